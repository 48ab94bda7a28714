// avatar-chat web client: wires the socket, the talking-video player and the page together.
// Turn bookkeeping lives here; the test view (test-view.js) exposes a read-only view of it.

import { Captions } from './captions.js';
import { ChoicesPanel, thumbnailSrc } from './choices.js';
import { MicControl } from './mic.js';
import { TalkingPlayer } from './player.js';
import { addPrefsToQuery } from './prefs.js';
import { ErrorCode, InterruptReason } from './protocol-constants.js';
import { ChatSocket, takeToken } from './socket.js';
import { spokenLength } from './spoken.js';
import { showLatency, showStatus, Transcript, toast } from './ui.js';

const SESSION_KEY = 'avatar-chat.session';
const REJECTED_TEXT = new Set([
  ErrorCode.BUSY,
  ErrorCode.EMPTY_TEXT,
  ErrorCode.TEXT_TOO_LONG,
  ErrorCode.BAD_TEXT,
]);
const HEARING_MAX_MS = 35000; // the server cuts speech at vad.max_utterance_s (30 s by default)
const $ = (id) => document.getElementById(id);
const TOKEN = takeToken(); // before anything else reads or shows the address

const talkVideo = $('talk-video');
const idleVideo = $('idle-video');
const input = $('message');
const interruptButton = $('interrupt');
const transcript = new Transcript($('transcript'), { language: () => choices.language });

const state = {
  status: 'connecting',
  sessionId: sessionStorage.getItem(SESSION_KEY),
  connected: false, // socket open and the `session` event received
  everConnected: false,
  retryInMs: null,
  busy: false, // the server refused the connection at capacity; retrying slowly
  replaced: false, // another window resumed this session; this one stays closed
  busyNotified: false, // said once per busy spell, not at every retry
  // Voice input: 'hearing' while the server's VAD hears speech, 'transcribing' from its end to
  // the transcript, else null.
  voice: null,
  avatar: {}, // the chosen avatar's info (kind, width, height, fps, note)
};
const turns = new Map(); // turnId -> turn record, oldest first
// Typed texts and transcripts waiting for their turn_start: {text, sentAt, body, id, spoken}
const pendingSends = [];
const statusLog = [];
const transcripts = []; // `transcript` events: {text, language, startS, endS}
const interruptions = []; // `interrupted` events: {turnId, reason}
let speechStarts = 0;
let speechEnds = 0;
let textsSent = 0;
let hearingTimer = null;
let lastTurn = null;
const collapse = (text) => text.replace(/\s+/g, ' ').trim();

function wsUrl() {
  const url = new URL('ws', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (state.sessionId) url.searchParams.set('session', state.sessionId);
  if (TOKEN) url.searchParams.set('token', TOKEN);
  addPrefsToQuery(url); // a new session starts with the remembered choices
  return url.toString();
}

function isActive(turn) {
  return !(turn.serverDone && turn.playDone);
}

function computeStatus() {
  if (!state.connected) return state.everConnected ? 'offline' : 'connecting';
  if (player.speaking) return 'speaking';
  if (state.voice) return state.voice; // 'hearing' or 'transcribing'
  if (player.stalled) return 'buffering'; // mid-reply, media slower than real time
  if (pendingSends.length > 0 || [...turns.values()].some(isActive)) return 'thinking';
  return 'listening';
}

function refresh() {
  const status = computeStatus();
  if (status !== state.status) {
    state.status = status;
    statusLog.push({ status, at: Math.round(performance.now()) });
  }
  let detail = '';
  if (status === 'offline' && state.replaced) {
    detail = 'continued in another window; reload to take it back';
  } else if (['offline', 'connecting'].includes(status) && state.retryInMs != null) {
    const wait = `${(state.retryInMs / 1000).toFixed(1)} s`;
    detail = state.busy ? `server busy, retrying in ${wait}` : `reconnecting in ${wait}`;
  }
  showStatus(status, detail);
  interruptButton.disabled = !['thinking', 'speaking', 'buffering'].includes(status);
}

// ---- turns -------------------------------------------------------------------------------

/** The typed text (by its id) or transcript (by its words) that this turn answers. */
function takePendingSend(event) {
  let i;
  if (event.id) {
    i = pendingSends.findIndex((s) => s.id === event.id);
  } else {
    const said = collapse(event.text || '');
    i = pendingSends.findIndex((s) => s.spoken && collapse(s.text) === said);
    if (i < 0) i = pendingSends.findIndex((s) => s.spoken);
  }
  return i < 0 ? undefined : pendingSends.splice(i, 1)[0];
}

function startTurn(event) {
  const send = takePendingSend(event);
  const turn = {
    turnId: event.turn_id,
    userText: event.text,
    replyText: '',
    sentAt: send ? send.sentAt : performance.now(),
    firstAudioMs: null,
    firstFrameMs: null,
    timings: null,
    mediaS: null,
    captions: [], // {seq, text, start, end} from `sentence` events
    captionsShown: [],
    unspoken: '', // after an interrupt: the reply's text that was never said
    decodedFrames: 0,
    outcome: null, // ended | interrupted | failed | no-media
    stalls: 0, // times playback ran dry and the face went back to idle meanwhile
    serverDone: false,
    playDone: false,
    replyBody: null,
  };
  // The reply goes right under its question, above texts still waiting for their turn.
  const question = send ? send.body : transcript.add('user', event.text); // e.g. queued pre-reconnect
  transcript.settle(question);
  turn.replyBody = transcript.add('assistant', '', { pending: true, after: question });
  turns.set(turn.turnId, turn);
  lastTurn = turn;
}

function stopTurn(turn, note) {
  // How far its video got, read before the player lets the video go: the transcript then
  // strikes what was never said instead of showing the whole streamed text as spoken.
  let playedS = 0;
  if (turn.playDone) playedS = Infinity;
  else if (player.currentTurnId === turn.turnId) playedS = talkVideo.currentTime;
  player.abort(turn.turnId);
  turn.serverDone = true;
  turn.playDone = true;
  turn.outcome = 'interrupted';
  const spoken = spokenLength(turn.replyText, turn.captions, playedS);
  turn.unspoken = turn.replyText.slice(spoken);
  transcript.markUnspoken(turn.replyBody, spoken);
  transcript.note(turn.replyBody, note, 'cut');
}

function interrupt() {
  for (const turn of turns.values()) if (isActive(turn)) stopTurn(turn, 'interrupted');
  captions.clear();
  socket.send({ type: 'interrupt' });
  refresh();
}

function sendText() {
  const text = input.value.trim();
  if (!text) return;
  if (!state.connected) {
    toast('Not connected yet; your message is kept, try again in a moment.', { kind: 'info' });
    return;
  }
  // A send is a user gesture: a good moment to lift a sound block.
  if (talkVideo.muted && player.currentTurnId) player.enableSound();
  const body = transcript.add('user', text, { pending: true });
  const id = `c${++textsSent}`; // echoed in its turn_start or refusal
  pendingSends.push({ text, sentAt: performance.now(), body, id, spoken: false });
  socket.send({ type: 'text', text, id });
  input.value = '';
  refresh();
}

// ---- events from the server --------------------------------------------------------------

function onSession(event) {
  state.sessionId = event.session_id;
  sessionStorage.setItem(SESSION_KEY, event.session_id);
  state.connected = true;
  state.everConnected = true;
  state.retryInMs = null;
  state.busy = false;
  state.busyNotified = false;
  socket.markHealthy();
  choices.onSession(event); // first: the session's language sets the history's `lang`
  if (event.max_input_chars) $('message').maxLength = event.max_input_chars;
  if (event.resumed) {
    transcript.clear();
    for (const m of event.history || []) transcript.add(m.role, m.content);
  }
  const llm = event.llm || {};
  $('llm-badge').hidden = !llm.offline;
  $('model-name').textContent = llm.offline ? '' : llm.model || '';
  mic.setAvailability(event.voice_input || {});
}

function fitStage(width, height) {
  if (width && height) $('stage').style.setProperty('--avatar-aspect', `${width} / ${height}`);
}

/** The avatar in effect (session or configured event; `entry`: its gallery entry). */
function showAvatar(info, entry, how) {
  state.avatar = { ...info };
  // A reply on screen keeps its own size (the talking video's resize event) until it ends.
  if (!player.currentTurnId) fitStage(info.width, info.height);
  $('avatar-note').textContent = info.note || '';
  $('avatar-note').hidden = !info.note;
  showIdle(entry);
  if (how === 'configured' && [...turns.values()].some(isActive)) {
    toast('Your choice applies from the next reply.', { kind: 'info', ms: 3000 });
  }
}

/** At rest the stage loops the chosen avatar's idle clip (idle.mp4 is the server's own);
 *  its still picture stands in while a new clip loads. */
function showIdle(entry) {
  const own = !entry || entry.default || !entry.idle;
  const src = own ? 'idle.mp4' : thumbnailSrc(entry.idle);
  if (idleVideo.getAttribute('src') === src) return;
  const still = $('idle-still');
  if (entry?.thumbnail) still.src = thumbnailSrc(entry.thumbnail);
  still.hidden = !entry?.thumbnail;
  $('stage').classList.remove('no-idle');
  idleVideo.addEventListener('loadeddata', () => { still.hidden = true; }, { once: true });
  idleVideo.src = src;
  idleVideo.play().catch(() => {});
}

function setVoice(phase) {
  clearTimeout(hearingTimer);
  state.voice = phase;
  if (phase) {
    hearingTimer = setTimeout(() => {
      state.voice = null;
      refresh();
    }, HEARING_MAX_MS);
  }
}

function onTranscript(event) {
  setVoice(null);
  transcripts.push({
    text: event.text,
    language: event.language,
    startS: event.start_s,
    endS: event.end_s,
  });
  const text = (event.text || '').trim();
  if (!text) return; // heard, but no words: the server starts no turn
  // A user gesture started the mic, so sound is allowed; this lifts a block anyway.
  if (talkVideo.muted && player.currentTurnId) player.enableSound();
  const body = transcript.add('user', text, { pending: true, spoken: true });
  pendingSends.push({ text, sentAt: performance.now(), body, id: null, spoken: true });
}

function onEvent(event) {
  const turn = event.turn_id ? turns.get(event.turn_id) : undefined;
  const cut = turn && turn.outcome === 'interrupted';
  switch (event.type) {
    case 'session':
      onSession(event);
      break;
    case 'configured':
      choices.onConfigured(event);
      break;
    case 'voice_input':
      mic.setAvailability(event);
      break;
    case 'speech_started':
      speechStarts += 1;
      setVoice('hearing');
      break;
    case 'speech_ended':
      speechEnds += 1;
      setVoice('transcribing');
      break;
    case 'transcript':
      onTranscript(event);
      break;
    case 'turn_start':
      startTurn(event);
      break;
    case 'reply_delta':
      if (!turn || cut) break;
      turn.replyText += event.text;
      transcript.setText(turn.replyBody, turn.replyText);
      transcript.scroll();
      break;
    case 'sentence':
      if (!turn || cut) break;
      turn.captions.push({
        seq: event.seq,
        text: event.text,
        start: event.start_s,
        end: event.start_s + event.duration_s,
      });
      break;
    case 'turn_end':
      if (!turn) break;
      turn.timings = event.timings || null;
      turn.mediaS = event.media_s;
      turn.serverDone = true;
      if (!cut) {
        turn.replyText = event.text;
        transcript.setText(turn.replyBody, event.text);
        transcript.settle(turn.replyBody);
        if (!player.complete(turn.turnId)) {
          turn.playDone = true; // nothing to play (empty reply or every sentence failed)
          turn.outcome = 'no-media';
        }
      }
      showLatency(turn);
      break;
    case 'interrupted':
      interruptions.push({ turnId: event.turn_id, reason: event.reason });
      // barge_in: the user spoke over the reply; drop what is queued, like the Stop button.
      if (turn && !cut) {
        const spoke = event.reason === InterruptReason.BARGE_IN;
        const note = spoke ? 'interrupted (you spoke)' : 'interrupted';
        if (isActive(turn)) stopTurn(turn, note);
      } else if (!turn && event.reason !== InterruptReason.DISCONNECTED) {
        // Cut before its turn_start reached us (the server drops a cut turn's events).
        const send = pendingSends.shift();
        if (send) transcript.note(send.body, 'interrupted', 'cut');
      }
      break;
    case 'error':
      onError(event, turn);
      break;
    case 'pong':
      break;
    case 'server_restarting': // close 1012 follows; the socket reconnects and resumes
      toast('The server is restarting; your conversation will resume.', { kind: 'info', ms: 4000 });
      break;
    default:
      console.debug('avatar-chat: unknown event', event);
  }
  refresh();
}

function onError(event, turn) {
  if (event.code === ErrorCode.SESSION_EXPIRED) {
    sessionStorage.removeItem(SESSION_KEY);
    state.sessionId = null;
    toast('The previous conversation has expired; starting a new one.', { kind: 'info' });
    if (transcript.list.children.length > 0) transcript.divider('new conversation');
    return;
  }
  if (event.code === ErrorCode.REPLACED) return; // the socket closes next; the status line says why
  if (choices.onError(event)) return; // a refused choice: its control goes back
  if (event.code === ErrorCode.CAPACITY || event.code === ErrorCode.TOO_MANY_CONNECTIONS) {
    // The socket closes next and retries with a longer backoff; the status line counts down.
    if (!state.busyNotified) toast(`${event.message} (capacity)`, { kind: 'info' });
    state.busyNotified = true;
    return;
  }
  const voiceCodes = [ErrorCode.ASR_UNAVAILABLE, ErrorCode.VOICE_UNAVAILABLE];
  if (voiceCodes.includes(event.code)) setVoice(null);
  if (event.code === ErrorCode.VOICE_UNAVAILABLE) {
    // Audio already in flight gets the same answer: say it once.
    if (!mic.available) return;
    mic.setAvailability({ available: false, reason: event.message });
  }
  toast(event.message ? `${event.message} (${event.code})` : event.code);
  if (REJECTED_TEXT.has(event.code) && !event.turn_id) {
    // A refusal names the typed text by its id; one without an id refuses a transcript's turn.
    let i = event.id
      ? pendingSends.findIndex((s) => s.id === event.id)
      : pendingSends.findLastIndex((s) => s.spoken);
    if (i < 0) i = pendingSends.length - 1;
    if (i >= 0) {
      const [send] = pendingSends.splice(i, 1);
      transcript.note(send.body, `not sent: ${event.code}`, 'rejected');
    }
  }
  // `internal` and `session_lost` end a turn without turn_end; what arrived plays out.
  const endsTurn = event.code === ErrorCode.INTERNAL || event.code === ErrorCode.SESSION_LOST;
  if (endsTurn && turn && !turn.serverDone) {
    turn.serverDone = true;
    turn.outcome = 'failed';
    transcript.note(turn.replyBody, 'failed');
    if (!player.complete(turn.turnId)) turn.playDone = true;
  }
}

function onMedia(header, payload) {
  player.push(header, payload);
}

function onSocketState(socketState, info = {}) {
  if (socketState === 'closed') {
    state.connected = false;
    choices.setConnected(false);
    setVoice(null);
    state.retryInMs = info.retryInMs ?? null;
    state.busy = Boolean(info.busy);
    state.replaced = Boolean(info.replaced);
    // The server cancels a running turn when its connection drops; stop it here too.
    for (const turn of turns.values()) if (!turn.serverDone) stopTurn(turn, 'connection lost');
    for (const send of pendingSends.splice(0)) transcript.note(send.body, 'connection lost');
  } else if (socketState === 'connecting') {
    state.retryInMs = null;
  }
  refresh();
}

// ---- wiring ------------------------------------------------------------------------------

const captions = new Captions($('captions'), {
  video: talkVideo,
  speakingTurn: () => (player.speaking ? turns.get(player.currentTurnId) : undefined),
  language: () => choices.language,
});

const player = new TalkingPlayer(talkVideo, {
  onPlaying(turnId) {
    const turn = turns.get(turnId);
    if (turn && turn.firstAudioMs == null) {
      turn.firstAudioMs = performance.now() - turn.sentAt;
      showLatency(turn); // now, not at the first frame or turn_end, which may come later
    }
    refresh();
    if (player.speaking) captions.start(); // again after a stall
  },
  onStall(turnId) {
    const turn = turns.get(turnId);
    if (turn) turn.stalls += 1;
    refresh();
  },
  onFirstFrame(turnId) {
    const turn = turns.get(turnId);
    if (turn && turn.firstFrameMs == null) {
      turn.firstFrameMs = performance.now() - turn.sentAt;
      if (turn.firstAudioMs == null && !talkVideo.paused) turn.firstAudioMs = turn.firstFrameMs;
      showLatency(turn);
    }
    refresh();
    captions.start();
  },
  onTurnDone(turnId, how, decodedFrames) {
    const turn = turns.get(turnId);
    if (turn) {
      turn.playDone = true;
      turn.outcome = turn.outcome || how;
      turn.decodedFrames = Math.max(turn.decodedFrames, decodedFrames || 0);
      if (turn === lastTurn) showLatency(turn);
    }
    captions.clear();
    // Back to the chosen avatar's size, unless the next reply already plays.
    if (!player.currentTurnId) fitStage(state.avatar.width, state.avatar.height);
    refresh();
  },
  onSoundBlocked(blocked) {
    $('sound-hint').hidden = !blocked;
  },
  onError(message) {
    toast(message);
  },
});

const socket = new ChatSocket({ url: wsUrl, onEvent, onMedia, onState: onSocketState });

const choices = new ChoicesPanel({
  send: (message) => socket.send(message),
  onAvatar: showAvatar,
  notify: (message, kind = 'error') => toast(message, { kind }),
});

const mic = new MicControl({
  send(pcm) {
    // Audio only after the `session` event (docs/protocol.md); offline it is dropped.
    if (!state.connected || !socket.isOpen) return false;
    socket.ws.send(pcm);
    return true;
  },
});

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  sendText();
});
interruptButton.addEventListener('click', interrupt);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !interruptButton.disabled) interrupt();
});
$('sound-hint').addEventListener('click', () => player.enableSound());
idleVideo.addEventListener('error', () => $('stage').classList.add('no-idle'));
// Each reply's stream has the size of the avatar it shows, which may differ from the one
// chosen since (a choice applies from the next reply): the stage follows what plays.
talkVideo.addEventListener('resize', () => fitStage(talkVideo.videoWidth, talkVideo.videoHeight));
idleVideo.play().catch(() => {}); // muted autoplay is always allowed; this covers slow starts

// The test view (static/test-view.js, on the page only when server.test_view is on) reads
// the turn bookkeeping through these; without it nothing is exposed.
window.__avatarChatTestView?.({
  state,
  statusLog,
  turns,
  player,
  mic,
  transcripts,
  interruptions,
  choices,
  counts: () => ({ speechStarts, speechEnds }),
});

refresh();
socket.start();
