// The chat WebSocket: JSON events, binary media frames, reconnect with backoff.
// Binary frame layout (docs/protocol.md): [u32 BE header length][JSON header][payload].

import { CloseCode } from './protocol-constants.js';

const decoder = new TextDecoder();
const CLOSE_TRY_LATER = CloseCode.TRY_LATER;
const CLOSE_REPLACED = CloseCode.REPLACED; // the session was resumed elsewhere: do not take it back
const BUSY_BACKOFF = { baseMs: 2000, maxMs: 30000 };

/** Split one binary message into its JSON header and payload bytes (null if malformed). */
export function parseMediaFrame(buffer) {
  if (buffer.byteLength < 4) return null;
  const headerLength = new DataView(buffer).getUint32(0, false);
  if (4 + headerLength > buffer.byteLength) return null;
  try {
    const header = JSON.parse(decoder.decode(new Uint8Array(buffer, 4, headerLength)));
    return { header, payload: new Uint8Array(buffer, 4 + headerLength) };
  } catch {
    return null;
  }
}

/** Delay before reconnect attempt `attempt` (0, 1, …): doubling, capped, with a little jitter. */
export function backoffMs(attempt, { baseMs = 250, maxMs = 5000 } = {}) {
  const delay = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(delay * (0.85 + 0.15 * Math.random()));
}

const TOKEN_KEY = 'avatar-chat.token';

/**
 * The server's shared token, if any: taken once from the page's fragment (`#token=…`), kept in
 * sessionStorage for reloads, and removed from the address bar (and so from history and
 * screenshots). The fragment never reaches the server; the socket sends it as `?token=`.
 */
export function takeToken() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get('token');
  if (!token) return sessionStorage.getItem(TOKEN_KEY);
  sessionStorage.setItem(TOKEN_KEY, token);
  fragment.delete('token');
  const rest = fragment.toString();
  const { pathname, search } = window.location;
  history.replaceState(history.state, '', `${pathname}${search}${rest ? `#${rest}` : ''}`);
  return token;
}

export class ChatSocket {
  /**
   * @param {object} opts
   * @param {() => string} opts.url          builds the URL for each attempt (resume id may change)
   * @param {(event: object) => void} opts.onEvent
   * @param {(header: object, payload: Uint8Array) => void} opts.onMedia
   * @param {(state: string, info?: object) => void} opts.onState  connecting | open | closed
   */
  constructor({ url, onEvent, onMedia, onState, pingEveryMs = 20000 }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onMedia = onMedia;
    this.onState = onState;
    this.pingEveryMs = pingEveryMs;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.stopped = false;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000, 'client closed');
  }

  /** The server accepted us (a `session` event arrived): later drops start backoff afresh. */
  markHealthy() {
    this.attempt = 0;
  }

  send(message) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  _connect() {
    clearTimeout(this.retryTimer);
    this.onState('connecting');
    const ws = new WebSocket(this.url());
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.onState('open');
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.send({ type: 'ping' }), this.pingEveryMs);
    };
    ws.onmessage = (msg) => {
      if (this.ws !== ws) return;
      if (typeof msg.data === 'string') {
        let event;
        try {
          event = JSON.parse(msg.data);
        } catch {
          console.warn('avatar-chat: unparsable event', msg.data);
          return;
        }
        this.onEvent(event);
      } else {
        const frame = parseMediaFrame(msg.data);
        if (frame) this.onMedia(frame.header, frame.payload);
        else console.warn('avatar-chat: malformed media frame', msg.data.byteLength);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      clearInterval(this.pingTimer);
      this.ws = null;
      if (ev.code === CLOSE_REPLACED) this.stopped = true; // two tabs must not fight
      if (this.stopped) {
        const replaced = ev.code === CLOSE_REPLACED;
        this.onState('closed', { code: ev.code, retryInMs: null, replaced });
        return;
      }
      // 1013 (try again later): the server is full, so come back slowly rather than add load.
      const busy = ev.code === CLOSE_TRY_LATER;
      const retryInMs = backoffMs(this.attempt++, busy ? BUSY_BACKOFF : undefined);
      this.onState('closed', { code: ev.code, reason: ev.reason, retryInMs, busy });
      this.retryTimer = setTimeout(() => this._connect(), retryInMs);
    };
    // onerror is always followed by onclose, which does the bookkeeping.
    ws.onerror = () => {};
  }
}
