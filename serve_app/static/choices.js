// The session's choices on the page: avatar gallery, language switch, voice list, persona.
// The server decides what is in effect: the page shows a choice at once, sends `configure`,
// and then follows the `configured` event, or puts the control back when an `error` refuses
// it (docs/protocol.md, "Session choices"). Confirmed choices are remembered (prefs.js).

import { ErrorCode } from './protocol-constants.js';
import { forgetPref, loadPrefs, savePrefs } from './prefs.js';

const $ = (id) => document.getElementById(id);
const AUTO = 'auto';
const LANGUAGE_LABELS = { auto: ['Auto', 'en'], en: ['English', 'en'], zh: ['中文', 'zh'] };
// Each refusal names the choice it refused: the one a remembered choice may need forgotten.
const REFUSED = new Map([
  [ErrorCode.UNKNOWN_LANGUAGE, 'language'],
  [ErrorCode.UNKNOWN_AVATAR, 'avatar'],
  [ErrorCode.UNKNOWN_VOICE, 'voice'],
  [ErrorCode.PERSONA_NOT_ALLOWED, 'persona'],
  [ErrorCode.PERSONA_TOO_LONG, 'persona'],
]);

/** A thumbnail's address. The server gives paths from the application's root; made
 *  relative, they resolve like the page's own files (static/…, idle.mp4). */
export function thumbnailSrc(path) {
  return path ? path.replace(/^\/+/, '') : '';
}

export class ChoicesPanel {
  /**
   * @param {object} opts
   * @param {(message: object) => boolean} opts.send  false when the socket is not open
   * @param {(avatar: object, entry: object|null, how: string) => void} opts.onAvatar
   *   the avatar in effect (the events' `avatar` info, its gallery entry); how: session |
   *   configured
   * @param {(message: string, kind?: string) => void} opts.notify  a toast
   */
  constructor({ send, onAvatar, notify }) {
    this.send = send;
    this.onAvatar = onAvatar;
    this.notify = notify;
    this.offer = null; // what the server offers; null until a session event has it
    this.current = { language: AUTO, avatar: null, voice: null, persona: null };
    this.pending = new Map(); // configure id -> {request, restoring}, in the order sent
    this.sent = 0;
    this.connected = false;
    this._wire();
  }

  /** The session's language now: `auto`, `en` or `zh`. */
  get language() {
    return this.current.language;
  }

  /** For the test view: a copy of what is in effect and offered. */
  get info() {
    const offer = this.offer;
    return {
      current: { ...this.current },
      pending: this.pending.size,
      configuresSent: this.sent,
      avatars: offer ? offer.avatars.map((a) => a.name) : [],
      languages: offer ? [...offer.languages] : [],
      voices: offer ? structuredClone(offer.voices) : {},
      personaAllowed: Boolean(offer && offer.persona.allowed),
    };
  }

  setConnected(connected) {
    this.connected = connected;
    if (!connected) this.pending.clear(); // a new connection answers none of them
    this._render();
  }

  // ---- events --------------------------------------------------------------------------

  onSession(event) {
    this.pending.clear();
    this.connected = true;
    this.offer = event.choices ? readOffer(event) : null; // an older server offers nothing
    this.current = readChoices(event.choices);
    this._build();
    this._render();
    this.onAvatar(event.avatar || {}, this._entry(this.current.avatar), 'session');
    // A resumed session keeps the choices it has; a new one started with the remembered
    // ones in its query, except the persona, and except any the server refused.
    if (!event.resumed && this.offer) this._restore();
  }

  onConfigured(event) {
    if (event.id) this.pending.delete(event.id);
    this.current = readChoices(event.choices);
    this._remember();
    this._render();
    this.onAvatar(event.avatar || {}, this._entry(this.current.avatar), 'configured');
  }

  /** An `error` event: true when it refused a choice (then it is handled here). */
  onError(event) {
    const name = REFUSED.get(event.code);
    if (!name) return false;
    const mine = event.id ? this.pending.get(event.id) : undefined;
    if (event.id) this.pending.delete(event.id);
    if (!event.id || (mine && mine.restoring)) {
      // A remembered choice (in the /ws query: no id; or sent after the session event) was
      // refused: forget it, or every visit would ask again.
      forgetPref(name);
      const why = `(${event.code}); using the server's`;
      this.notify(`The ${name} you chose last time cannot be used here ${why}.`);
    } else {
      this.notify(`${event.message} (${event.code})`);
    }
    this._render(); // back to what is in effect
    return true;
  }

  // ---- choosing ------------------------------------------------------------------------

  _choose(request, { restoring = false } = {}) {
    const id = `cfg${++this.sent}`; // echoed in the configured event or the refusal
    if (!this.send({ type: 'configure', ...request, id })) {
      this.notify('Not connected: the choice was not sent.', 'info');
      this._render();
      return;
    }
    this.pending.set(id, { request, restoring });
    this._render();
  }

  /** Send the remembered choices this session does not have yet, if it offers them. */
  _restore() {
    const prefs = loadPrefs();
    const offer = this.offer;
    const request = {};
    const language = prefs.language;
    if (language && offer.languages.includes(language) && language !== this.current.language) {
      request.language = language;
    }
    if (prefs.avatar && this._entry(prefs.avatar) && prefs.avatar !== this.current.avatar) {
      request.avatar = prefs.avatar;
    }
    if (prefs.voice && prefs.voice !== this.current.voice) {
      const speaks = request.language || this.current.language;
      if (voicesFor(offer, speaks).includes(prefs.voice)) request.voice = prefs.voice;
    }
    const persona = prefs.persona;
    if (persona && persona !== this.current.persona && offer.persona.allowed) {
      if (persona.length <= offer.persona.max_chars) request.persona = persona;
    }
    if (Object.keys(request).length > 0) this._choose(request, { restoring: true });
  }

  /** Remember what the server confirmed; the server's own avatar and language as defaults,
   *  so a change of the server's defaults reaches this browser too. */
  _remember() {
    const { language, avatar, voice, persona } = this.current;
    const entry = this._entry(avatar);
    savePrefs({
      language: language === AUTO ? null : language,
      avatar: entry && !entry.default ? avatar : null,
      voice,
      persona,
    });
  }

  /** What the controls show: what is in effect, with the choices still on their way. */
  _shown() {
    const shown = { ...this.current };
    for (const { request } of this.pending.values()) {
      if ('language' in request && request.language !== shown.language) {
        const keeps = voicesFor(this.offer, request.language).includes(shown.voice);
        if (!keeps) shown.voice = null; // the server drops a voice of another language
      }
      Object.assign(shown, request);
    }
    return shown;
  }

  _entry(name) {
    return (this.offer && this.offer.avatars.find((a) => a.name === name)) || null;
  }

  // ---- page ----------------------------------------------------------------------------

  _wire() {
    $('avatar-gallery').addEventListener('click', (e) => {
      const button = e.target.closest('button[data-avatar]');
      if (button && button.getAttribute('aria-pressed') !== 'true') {
        this._choose({ avatar: button.dataset.avatar });
      }
    });
    $('language-switch').addEventListener('change', (e) => {
      if (e.target.name === 'language') this._choose({ language: e.target.value });
    });
    $('voice-select').addEventListener('change', (e) => {
      this._choose({ voice: e.target.value || null });
    });
    const persona = $('persona-text');
    persona.addEventListener('input', () => this._countPersona());
    $('persona-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this._choose({ persona: persona.value.trim() || null });
    });
    $('persona-reset').addEventListener('click', () => {
      persona.value = '';
      this._choose({ persona: null });
    });
  }

  /** The controls for what the session event offers (once per session event). */
  _build() {
    const offer = this.offer;
    if (!offer) {
      $('choices').hidden = true;
      return;
    }

    const gallery = $('avatar-gallery');
    gallery.replaceChildren(...offer.avatars.map(avatarButton));
    $('avatar-choice').hidden = offer.avatars.length < 2; // nothing to choose between

    const switcher = $('language-options');
    switcher.replaceChildren(...offer.languages.map(languageOption));
    $('language-switch').hidden = offer.languages.length < 2;

    const persona = $('persona-form');
    persona.hidden = !offer.persona.allowed;
    $('persona-text').maxLength = offer.persona.max_chars;
    $('persona-text').value = this.current.persona || '';
    this._countPersona();
  }

  _render() {
    if (!this.offer) return;
    const shown = this._shown();
    const off = !this.connected;
    for (const button of $('avatar-gallery').querySelectorAll('button')) {
      const current = button.dataset.avatar === shown.avatar;
      button.setAttribute('aria-pressed', String(current));
      button.classList.toggle('current', current);
      button.disabled = off;
    }
    for (const radio of $('language-switch').querySelectorAll('input')) {
      radio.checked = radio.value === shown.language;
      radio.disabled = off;
    }
    this._renderVoices(shown, off);
    const persona = $('persona-text');
    if (document.activeElement !== persona && this.pending.size === 0) {
      persona.value = this.current.persona || ''; // not while the user is writing one
      this._countPersona();
    }
    for (const el of $('persona-form').querySelectorAll('textarea, button')) el.disabled = off;
    // With nothing to choose between (one avatar, one language, no voices) no panel at all.
    const parts = ['avatar-choice', 'language-switch', 'voice-choice', 'persona-form'];
    $('choices').hidden = parts.every((id) => $(id).hidden);
  }

  /** The voices of the language shown (with `auto`: every language's, by language). */
  _renderVoices(shown, off) {
    const select = $('voice-select');
    const groups = shown.language === AUTO ? Object.keys(this.offer.voices) : [shown.language];
    const options = [new Option('Default', '')];
    for (const lang of groups) {
      const names = this.offer.voices[lang] || [];
      if (names.length === 0) continue;
      const group = document.createElement('optgroup');
      group.label = (LANGUAGE_LABELS[lang] || [lang])[0];
      group.append(...names.map((n) => new Option(n, n)));
      options.push(group);
    }
    select.replaceChildren(...options);
    const offered = voicesFor(this.offer, shown.language).includes(shown.voice);
    select.value = offered ? shown.voice : '';
    select.disabled = off;
    $('voice-choice').hidden = select.options.length < 2;
  }

  _countPersona() {
    const text = $('persona-text');
    $('persona-count').textContent = `${text.value.length} / ${text.maxLength}`;
  }
}

// ---- reading the events ------------------------------------------------------------------

function readChoices(choices = {}) {
  const c = choices || {};
  return {
    language: c.language || AUTO,
    avatar: c.avatar || null,
    voice: c.voice || null,
    persona: c.persona || null,
  };
}

function readOffer(event) {
  const persona = event.persona || {};
  return {
    avatars: (event.avatars || []).filter((a) => a && typeof a.name === 'string'),
    languages: event.languages && event.languages.length ? event.languages : [AUTO],
    voices: event.voices || {},
    persona: { allowed: Boolean(persona.allowed), max_chars: persona.max_chars || 1000 },
  };
}

/** The voices that may be chosen with `language` (with `auto`: any language's). */
function voicesFor(offer, language) {
  if (!offer) return [];
  if (language === AUTO) return Object.values(offer.voices).flat();
  return offer.voices[language] || [];
}

function avatarButton(entry) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'avatar-button';
  button.dataset.avatar = entry.name;
  const label = entry.default ? `${entry.name} (the server’s)` : entry.name;
  button.title = `${label}: ${entry.width}×${entry.height}`;
  button.setAttribute('aria-label', `Avatar ${label}`);
  const src = thumbnailSrc(entry.thumbnail);
  if (src) {
    const img = document.createElement('img');
    img.src = src;
    img.alt = '';
    img.width = 56;
    img.height = 56;
    // Without its picture the button still says which avatar it is.
    img.addEventListener('error', () => img.replaceWith(nameTag(entry.name)), { once: true });
    button.append(img);
  } else {
    button.append(nameTag(entry.name));
  }
  return button;
}

function nameTag(name) {
  const tag = document.createElement('span');
  tag.className = 'avatar-name';
  tag.textContent = name.replace(/^sprite:?/, '') || 'sprite';
  return tag;
}

function languageOption(code) {
  const [text, lang] = LANGUAGE_LABELS[code] || [code, code];
  const label = document.createElement('label');
  const radio = document.createElement('input');
  radio.type = 'radio';
  radio.name = 'language';
  radio.value = code;
  const span = document.createElement('span');
  span.lang = lang;
  span.textContent = text;
  label.append(radio, span);
  return label;
}
