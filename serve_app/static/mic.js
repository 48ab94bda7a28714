// The microphone controls: on/off button, hands-free or push-to-talk, level meter, messages.
// Audio goes out as binary socket messages of 40 ms PCM16 (docs/protocol.md); the server's
// VAD finds the utterances, so hands-free simply streams while the mic is on.

import { MicCapture } from './mic-capture.js';
import { PcmSender } from './mic-stream.js';

const DEFAULT_MIN_SILENCE_MS = 500; // the server's vad.min_silence_ms (its default)
const METER_FLOOR_DB = -60;
const MODE_KEY = 'avatar-chat.mic-mode';
const $ = (id) => document.getElementById(id);

/** A server's reason can be an exception's text, lines long: its first line, kept short,
 *  for tooltips only; the page itself shows one plain sentence. */
function shortReason(reason) {
  const line = String(reason || '').split('\n')[0].trim();
  return line.length > 160 ? `${line.slice(0, 159)}…` : line;
}

function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || target.matches('input, textarea, select');
}

export class MicControl {
  /** @param {{send: (pcm: ArrayBuffer) => boolean}} opts  send returns false when offline */
  constructor({ send }) {
    this.sender = new PcmSender(send);
    this.capture = new MicCapture({
      onFrame: (pcm, rms) => this._onFrame(pcm, rms),
      onEnded: (err) => this._fail(err),
    });
    this.available = false;
    this.reason = 'waiting for the server';
    this.state = 'unavailable'; // unavailable | off | starting | on | error
    this.mode = localStorage.getItem(MODE_KEY) === 'push-to-talk' ? 'push-to-talk' : 'hands-free';
    this.held = false;
    this.error = null;
    this.minSilenceMs = DEFAULT_MIN_SILENCE_MS;
    this.level = 0; // smoothed 0..1 for the meter
    this.peakLevel = 0;
    this.frames = 0; // frames from the worklet
    this.meterFrame = 0;
    this._wire();
    this._render();
  }

  /** The session's `voice_input`: {available, reason}. Text input is unaffected. */
  setAvailability({ available, reason, min_silence_ms: minSilenceMs }) {
    this.available = Boolean(available);
    this.reason = shortReason(reason) || (available ? '' : 'not configured on the server');
    if (Number.isFinite(minSilenceMs)) this.minSilenceMs = minSilenceMs;
    if (this.available) {
      if (this.state === 'unavailable') this.state = 'off';
    } else {
      this.turnOff({ tail: false });
      this.state = 'unavailable';
    }
    this._render();
  }

  get streaming() {
    return this.state === 'on' && (this.mode === 'hands-free' || this.held);
  }

  async turnOn() {
    if (!this.available || this.state === 'on' || this.state === 'starting') return;
    this.state = 'starting';
    this.error = null;
    this._render();
    try {
      await this.capture.start();
    } catch (err) {
      this._fail(err);
      return;
    }
    if (this.state !== 'starting') return; // turned off (or made unavailable) meanwhile
    this.state = 'on';
    this._render();
  }

  turnOff({ tail = true } = {}) {
    if (tail && this.streaming) this._endUtterance();
    this.capture.stop();
    this.held = false;
    this.sender.clear();
    this.level = 0;
    if (this.state === 'on' || this.state === 'starting') this.state = 'off';
    this._render();
  }

  /** Push-to-talk pressed: stream from now on (the mic starts on the first press). */
  press() {
    if (this.mode !== 'push-to-talk' || !this.available || this.held) return;
    this.held = true;
    if (this.state !== 'on') this.turnOn();
    this.sender.start();
    this._render();
  }

  release() {
    if (!this.held) return;
    if (this.state === 'on') this._endUtterance();
    this.held = false;
    this._render();
  }

  setMode(mode) {
    if (mode === this.mode) return;
    if (this.streaming) this._endUtterance(); // close what the server has heard so far
    this.held = false;
    this.mode = mode;
    localStorage.setItem(MODE_KEY, mode);
    this._render();
  }

  get info() {
    const { state, mode, held, level, peakLevel, frames } = this;
    return {
      ...{ state, mode, held, level, peakLevel, frames },
      sent: this.sender.sent, // binary messages that went out on the socket
      sentBytes: this.sender.sentBytes,
      available: this.available,
      reason: this.reason,
      error: this.error ? { kind: this.error.kind, message: this.error.message } : null,
      inputRate: this.capture.inputRate,
    };
  }

  // ---- audio ---------------------------------------------------------------------------

  _onFrame(pcm, rms) {
    this.frames += 1;
    this._meter(rms);
    if (this.streaming) this.sender.push(pcm);
    else if (this.mode === 'push-to-talk') this.sender.keep(pcm);
  }

  _endUtterance() {
    this.sender.end(this.minSilenceMs);
  }

  _meter(rms) {
    const db = 20 * Math.log10(rms + 1e-9);
    const target = Math.min(1, Math.max(0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB));
    // Fast rise, slow fall (per 20 ms frame), like a VU meter: readable, not jittery.
    const rise = this.level + 0.6 * (target - this.level);
    this.level = target > this.level ? rise : this.level * 0.88;
    this.peakLevel = Math.max(this.peakLevel, this.level);
    if (!this.meterFrame) this.meterFrame = requestAnimationFrame(() => this._drawMeter());
  }

  _drawMeter() {
    this.meterFrame = 0;
    const meter = $('mic-level');
    meter.style.setProperty('--level', this.level.toFixed(3));
    meter.setAttribute('aria-valuenow', String(Math.round(this.level * 100)));
  }

  _fail(err) {
    this.capture.stop();
    this.held = false;
    this.level = 0;
    this.state = 'error';
    this.error = err;
    this._render();
  }

  // ---- page ----------------------------------------------------------------------------

  _wire() {
    $('mic').addEventListener('click', () => {
      if (this.state === 'on' || this.state === 'starting') this.turnOff();
      else this.turnOn();
    });
    for (const radio of document.querySelectorAll('input[name="mic-mode"]')) {
      radio.checked = radio.value === this.mode;
      radio.addEventListener('change', () => radio.checked && this.setMode(radio.value));
    }
    const talk = $('talk');
    talk.addEventListener('pointerdown', (e) => {
      talk.setPointerCapture(e.pointerId);
      this.press();
    });
    for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
      talk.addEventListener(type, () => this.release());
    }
    talk.addEventListener('contextmenu', (e) => e.preventDefault()); // long touch
    const spaceToTalk = (e) =>
      e.code === 'Space' && this.mode === 'push-to-talk' && this.available && !isTyping(e.target);
    document.addEventListener('keydown', (e) => {
      if (!spaceToTalk(e)) return;
      e.preventDefault(); // no page scroll, no button activation
      if (!e.repeat) this.press();
    });
    document.addEventListener('keyup', (e) => {
      if (!spaceToTalk(e)) return;
      e.preventDefault();
      this.release();
    });
    window.addEventListener('blur', () => this.release()); // a key-up we will never see
  }

  _render() {
    const mic = $('mic');
    const on = this.state === 'on' || this.state === 'starting';
    mic.disabled = !this.available;
    mic.setAttribute('aria-pressed', String(on));
    mic.classList.toggle('on', on);
    mic.classList.toggle('live', this.streaming);
    const title = !this.available
      ? `Voice input unavailable: ${this.reason}`
      : on
        ? 'Turn the microphone off'
        : 'Turn the microphone on';
    mic.title = title;
    mic.setAttribute('aria-label', `Microphone: ${title}`);
    $('mic-wrap').title = title;
    $('voice').dataset.state = this.state;
    $('voice').dataset.mode = this.mode;
    const talk = $('talk');
    talk.hidden = this.mode !== 'push-to-talk';
    talk.disabled = !this.available;
    talk.classList.toggle('held', this.held);
    talk.setAttribute('aria-pressed', String(this.held));
    for (const radio of document.querySelectorAll('input[name="mic-mode"]')) {
      radio.disabled = !this.available;
    }
    this._showMessage(...this._message());
    if (!on) this._drawMeter();
  }

  _message() {
    if (!this.available) {
      return ['Voice input is unavailable here; typing works.', 'muted'];
    }
    if (this.state === 'error') return [this.error.message, 'error'];
    if (this.state === 'starting') return ['Starting the microphone…', ''];
    if (this.mode === 'push-to-talk') {
      if (this.held) return ['Talking… release to send.', ''];
      return ['Hold “Hold to talk” or the Space bar while you speak.', ''];
    }
    if (this.state === 'on') return ['Microphone on: just speak. Click the mic to stop.', ''];
    return ['Click the microphone to talk.', 'muted'];
  }

  _showMessage(text, kind) {
    const el = $('mic-message');
    el.textContent = text;
    el.title = this.available ? '' : `Why: ${this.reason}`; // the details, on hover
    el.className = `mic-message ${kind}`;
    el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  }
}
