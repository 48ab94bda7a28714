// Microphone frames -> binary socket messages (docs/protocol.md: PCM16 LE, 16 kHz, 20-40 ms
// each), with the push-to-talk pre-roll and the trailing silence that ends an utterance.

import { FRAME_SAMPLES, SAMPLE_RATE } from './mic-capture.js';

const FRAMES_PER_MESSAGE = 2; // 2 x 20 ms: 40 ms, 1280 bytes per message
const PRE_ROLL_FRAMES = 10; // 200 ms: a word begun just before the press is kept
const TAIL_MARGIN_MS = 300; // the VAD's speech probability takes up to ~300 ms to decay

export class PcmSender {
  /** @param {(pcm: ArrayBuffer) => boolean} send  false when the message could not go out */
  constructor(send) {
    this.send = send;
    this.batch = [];
    this.preRoll = [];
    this.sent = 0; // messages that went out
    this.sentBytes = 0;
  }

  /** A frame to stream. */
  push(pcm) {
    this.batch.push(pcm);
    if (this.batch.length >= FRAMES_PER_MESSAGE) this.flush();
  }

  /** A frame heard while not streaming: kept briefly, sent if streaming starts now. */
  keep(pcm) {
    this.preRoll.push(pcm);
    if (this.preRoll.length > PRE_ROLL_FRAMES) this.preRoll.shift();
  }

  /** Streaming starts: the kept frames go first. */
  start() {
    for (const pcm of this.preRoll.splice(0)) this.push(pcm);
  }

  flush() {
    if (this.batch.length === 0) return;
    const size = this.batch.reduce((n, b) => n + b.byteLength, 0);
    const message = new Uint8Array(size);
    let at = 0;
    for (const b of this.batch) {
      message.set(new Uint8Array(b), at);
      at += b.byteLength;
    }
    this.batch = [];
    this._send(message.buffer);
  }

  /** Streaming stops: send what is batched, then enough silence for the server's
   *  endpointing (`minSilenceMs`) to end the utterance now, not at the next audio. */
  end(minSilenceMs) {
    this.flush();
    const messageSamples = FRAME_SAMPLES * FRAMES_PER_MESSAGE;
    const silentSamples = ((minSilenceMs + TAIL_MARGIN_MS) * SAMPLE_RATE) / 1000;
    for (let n = Math.ceil(silentSamples / messageSamples); n > 0; n--) {
      this._send(new ArrayBuffer(2 * messageSamples));
    }
  }

  /** Forget unsent audio (the mic stopped). */
  clear() {
    this.batch = [];
    this.preRoll = [];
  }

  _send(buffer) {
    if (this.send(buffer)) {
      this.sent += 1;
      this.sentBytes += buffer.byteLength;
    }
  }
}
