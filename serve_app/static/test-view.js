// The page's test view: a read-only window.avatarChat over the client's turn bookkeeping, for
// the browser tests. The server puts this script on the page (before app.js, which calls the
// hook below) only when server.test_view is on; otherwise it is not served at all.
window.__avatarChatTestView = ({
  state,
  statusLog,
  turns,
  player,
  mic,
  transcripts,
  interruptions,
  counts,
}) => {
  window.avatarChat = Object.freeze({
    get status() {
      return state.status;
    },
    get sessionId() {
      return state.sessionId;
    },
    get connected() {
      return state.connected;
    },
    get statusLog() {
      return statusLog.map((s) => ({ ...s }));
    },
    get turns() {
      return [...turns.values()].map((t) => ({
        turnId: t.turnId,
        userText: t.userText,
        replyText: t.replyText,
        firstAudioMs: t.firstAudioMs,
        firstFrameMs: t.firstFrameMs,
        timings: t.timings ? { ...t.timings } : null,
        mediaS: t.mediaS,
        captions: t.captions.map((c) => c.text),
        captionsShown: [...t.captionsShown],
        decodedFrames: t.decodedFrames,
        outcome: t.outcome,
        stalls: t.stalls,
      }));
    },
    get currentTurnId() {
      return player.currentTurnId;
    },
    decodedFrames: () => player.decodedFrames(),
    get mic() {
      return mic.info;
    },
    get audioMessagesSent() {
      return mic.sender.sent;
    },
    get transcripts() {
      return transcripts.map((t) => ({ ...t }));
    },
    get interruptions() {
      return interruptions.map((i) => ({ ...i }));
    },
    get speechStarts() {
      return counts().speechStarts;
    },
    get speechEnds() {
      return counts().speechEnds;
    },
  });
};
