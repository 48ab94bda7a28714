// DOM helpers: transcript entries, toasts, status line, latency readout.

import { langOf } from './text-lang.js';

const $ = (id) => document.getElementById(id);

/** The transcript panel: user messages and the avatar's streaming replies. */
export class Transcript {
  /** @param {() => string} language  the session's language (`auto`, `en`, `zh`): with the
   *  text it decides each entry's `lang` (text-lang.js) */
  constructor(list, { language = () => 'auto' } = {}) {
    this.list = list;
    this.language = language;
  }

  clear() {
    this.list.replaceChildren();
  }

  /** Add a message (at the end or after another); returns its text element to grow.
   *  `spoken` marks a user message that came from the microphone (a transcript). */
  add(role, text, { pending = false, after = null, spoken = false } = {}) {
    const item = document.createElement('li');
    item.className = `msg ${role === 'user' ? 'user' : 'assistant'}`;
    if (pending) item.classList.add('pending');
    if (spoken) item.classList.add('spoken');
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = role === 'user' ? (spoken ? 'You (spoken)' : 'You') : 'Avatar';
    const body = document.createElement('p');
    body.className = 'text';
    this.setText(body, text);
    item.append(who, body);
    if (after && this.list.contains(after)) after.closest('.msg').after(item);
    else this.list.append(item);
    this.scroll();
    return body;
  }

  /** Replace an entry's text (a reply grows as it streams). */
  setText(body, text) {
    body.textContent = text;
    body.lang = langOf(text, this.language());
  }

  /** After an interrupt: the text from `spoken` characters on was never said; it stays,
   *  struck through, so the reader sees where the avatar stopped. */
  markUnspoken(body, spoken) {
    const text = body.textContent;
    if (spoken >= text.length) return;
    const rest = document.createElement('s');
    rest.className = 'unspoken';
    rest.title = 'not spoken: the reply was interrupted here';
    rest.textContent = text.slice(spoken);
    body.replaceChildren(text.slice(0, spoken), rest);
  }

  /** Mark an entry with a short note, e.g. "interrupted" or "not sent: busy". */
  note(body, text, kind = '') {
    const item = body.closest('.msg');
    item.classList.remove('pending');
    if (kind) item.classList.add(kind);
    let note = item.querySelector('.note');
    if (!note) {
      note = document.createElement('span');
      note.className = 'note';
      item.append(note);
    }
    note.textContent = text;
  }

  /** A thin separator line, e.g. where a new conversation begins. */
  divider(text) {
    const item = document.createElement('li');
    item.className = 'divider';
    item.textContent = text;
    this.list.append(item);
    this.scroll();
  }

  settle(body) {
    body.closest('.msg').classList.remove('pending');
  }

  scroll() {
    this.list.scrollTop = this.list.scrollHeight;
  }
}

/** Brief, unobtrusive notices (errors) in a corner; each fades after a few seconds. */
export function toast(message, { kind = 'error', ms = 6000 } = {}) {
  const box = $('toasts');
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.textContent = message;
  box.append(el);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => {
    el.classList.add('leaving');
    setTimeout(() => el.remove(), 400);
  }, ms);
}

const STATUS_TEXT = {
  connecting: 'connecting…',
  listening: 'ready', // idle: waiting for a question, typed or spoken
  hearing: 'listening…', // the server hears speech
  transcribing: 'transcribing…', // the speech ended; its transcript is on the way
  thinking: 'thinking…',
  speaking: 'speaking',
  buffering: 'buffering…', // a reply's media came slower than real time: waiting for more
  offline: 'offline',
};

export function showStatus(status, detail = '') {
  const el = $('status');
  el.dataset.status = status;
  $('status-text').textContent = detail ? `${STATUS_TEXT[status]} — ${detail}` : STATUS_TEXT[status];
}

const ms = (v) => (v == null ? '–' : `${Math.round(v)} ms`);
const sec = (v) => (typeof v === 'number' ? `${v.toFixed(2)} s` : '–');

/** The latency line of the latest turn: measured here, plus the server's own timings. */
export function showLatency(turn) {
  const el = $('latency');
  if (!turn) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  $('lat-audio').textContent = ms(turn.firstAudioMs);
  $('lat-frame').textContent = ms(turn.firstFrameMs);
  const t = turn.timings;
  $('lat-server').textContent = t
    ? `text ${sec(t.first_text)} · media ${sec(t.first_media)} · total ${sec(t.total)}`
    : '–';
  $('lat-server').title = t
    ? Object.entries(t)
        .map(([k, v]) => `${k}: ${sec(v)}`)
        .join('\n')
    : '';
}
