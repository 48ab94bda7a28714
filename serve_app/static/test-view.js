// The page's test view: a read-only window.avatarChat over the client's turn bookkeeping, for
// the browser tests. The server puts this script on the page (before app.js, which calls the
// hook below) only when server.test_view is on; otherwise it is not served at all.
window.__avatarChatTestView = (app) => {
  window.avatarChat = Object.freeze({
    get status() {
      return app.state.status;
    },
    get sessionId() {
      return app.state.sessionId;
    },
    get connected() {
      return app.state.connected;
    },
    get statusLog() {
      return app.statusLog.map((s) => ({ ...s }));
    },
    get turns() {
      return [...app.turns.values()].map((t) => ({
        turnId: t.turnId,
        userText: t.userText,
        replyText: t.replyText,
        firstAudioMs: t.firstAudioMs,
        firstFrameMs: t.firstFrameMs,
        timings: t.timings ? { ...t.timings } : null,
        mediaS: t.mediaS,
        captions: t.captions.map((c) => c.text),
        captionsShown: [...t.captionsShown],
        unspoken: t.unspoken,
        decodedFrames: t.decodedFrames,
        outcome: t.outcome,
        stalls: t.stalls,
      }));
    },
    get currentTurnId() {
      return app.player.currentTurnId;
    },
    decodedFrames: () => app.player.decodedFrames(),
    get mic() {
      return app.mic.info;
    },
    get audioMessagesSent() {
      return app.mic.sender.sent;
    },
    get transcripts() {
      return app.transcripts.map((t) => ({ ...t }));
    },
    get interruptions() {
      return app.interruptions.map((i) => ({ ...i }));
    },
    get speechStarts() {
      return app.counts().speechStarts;
    },
    get speechEnds() {
      return app.counts().speechEnds;
    },
    // The session's choices: {current: {language, avatar, voice, persona}, pending,
    // configuresSent, avatars, languages, voices, personaAllowed}.
    get choices() {
      return app.choices.info;
    },
    get avatar() {
      return { ...app.state.avatar }; // the chosen avatar's info: kind, width, height, …
    },
  });
};
