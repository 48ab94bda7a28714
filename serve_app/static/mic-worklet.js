// AudioWorklet processor: microphone audio at the context rate (often 48 kHz) -> PCM16 LE
// mono at 16 kHz, posted in 20 ms frames. Resampling is band-limited interpolation with a
// Blackman-windowed sinc low-pass, so speech above the new Nyquist frequency is removed
// instead of folding back as aliasing (plain decimation would fold 8-24 kHz into the band).

const PHASES = 256; // fractional positions tabulated (44.1 kHz needs them; 48 kHz uses one)
const PASS_FRACTION = 0.925; // cut-off (-6 dB) as a fraction of the output Nyquist frequency
const TRANSITION_FRACTION = 0.15; // transition band width, same unit
const BLACKMAN_WIDTH = 5.5; // transition width of a Blackman-windowed sinc is ~5.5 / taps

/** Windowed-sinc taps for each fractional phase, each phase normalised to unit DC gain. */
function buildKernel(inRate, outRate) {
  const nyquist = Math.min(inRate, outRate) / 2;
  const cutoff = (nyquist * PASS_FRACTION) / inRate; // cycles per input sample
  const transition = (nyquist * TRANSITION_FRACTION) / inRate;
  const half = Math.ceil(BLACKMAN_WIDTH / transition / 2);
  const width = 2 * half;
  const table = new Float32Array(PHASES * width);
  for (let p = 0; p < PHASES; p++) {
    const frac = p / PHASES;
    let sum = 0;
    for (let j = -half + 1; j <= half; j++) {
      const d = frac - j; // distance from the output instant to input sample i0 + j
      const u = d / half;
      if (Math.abs(u) >= 1) continue;
      const x = 2 * cutoff * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const window = 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
      const tap = 2 * cutoff * sinc * window;
      table[p * width + j + half - 1] = tap;
      sum += tap;
    }
    for (let k = 0; k < width; k++) table[p * width + k] /= sum;
  }
  return { table, half, width };
}

class Pcm16Downsampler extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = options.processorOptions || {};
    this.outRate = opts.targetRate || 16000;
    this.frameSamples = opts.frameSamples || 320;
    this.ratio = sampleRate / this.outRate; // input samples per output sample
    Object.assign(this, buildKernel(sampleRate, this.outRate));
    // Input history; the stream is taken to be silent before its first sample.
    this.buf = new Float32Array(8192 + this.width);
    this.bufStart = -this.half; // absolute index of buf[0]
    this.bufLen = this.half;
    this.produced = 0; // output samples so far; the next one sits at produced * ratio
    this.frame = new Float32Array(this.frameSamples);
    this.frameLen = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      this.append(channel);
      this.resample();
    }
    return true; // keep running while the node is connected
  }

  append(samples) {
    if (this.bufLen + samples.length > this.buf.length) {
      const bigger = new Float32Array(2 * (this.bufLen + samples.length));
      bigger.set(this.buf.subarray(0, this.bufLen));
      this.buf = bigger;
    }
    this.buf.set(samples, this.bufLen);
    this.bufLen += samples.length;
  }

  resample() {
    const { buf, table, half, width } = this;
    const end = this.bufStart + this.bufLen; // absolute index after the newest sample
    for (;;) {
      const t = this.produced * this.ratio;
      let i0 = Math.floor(t);
      let phase = Math.round((t - i0) * PHASES);
      if (phase === PHASES) {
        i0 += 1;
        phase = 0;
      }
      if (i0 + half >= end) break; // needs input that has not arrived yet
      const base = i0 - half + 1 - this.bufStart;
      const taps = phase * width;
      let y = 0;
      for (let k = 0; k < width; k++) y += buf[base + k] * table[taps + k];
      this.produced += 1;
      this.frame[this.frameLen++] = y;
      if (this.frameLen === this.frameSamples) this.flush();
    }
    // Drop the history no future output reaches.
    const keepFrom = Math.floor(this.produced * this.ratio) - half;
    const drop = keepFrom - this.bufStart;
    if (drop > 0) {
      buf.copyWithin(0, drop, this.bufLen);
      this.bufStart += drop;
      this.bufLen -= drop;
    }
  }

  flush() {
    const n = this.frameSamples;
    const bytes = new ArrayBuffer(2 * n);
    const view = new DataView(bytes);
    let energy = 0;
    for (let i = 0; i < n; i++) {
      const s = Math.max(-1, Math.min(1, this.frame[i]));
      energy += s * s;
      view.setInt16(2 * i, Math.round(s < 0 ? s * 32768 : s * 32767), true);
    }
    this.frameLen = 0;
    this.port.postMessage({ pcm: bytes, rms: Math.sqrt(energy / n) }, [bytes]);
  }
}

registerProcessor('pcm16-downsampler', Pcm16Downsampler);
