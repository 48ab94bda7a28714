// Microphone capture: getUserMedia (echo cancellation on, so the avatar's own voice is not
// heard as the user) -> AudioWorklet (mic-worklet.js) -> 20 ms PCM16 frames at 16 kHz.

export const SAMPLE_RATE = 16000;
export const FRAME_SAMPLES = 320; // 20 ms at 16 kHz

const CONSTRAINTS = {
  audio: {
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
    channelCount: 1,
  },
  video: false,
};

/** Why the microphone could not start, with a message a person can act on. */
export class MicError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'MicError';
    this.kind = kind; // denied | no-device | busy | unsupported | failed
  }
}

function explain(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new MicError(
        'denied',
        'Microphone access was refused. Allow the microphone for this site in the browser ' +
          '(the icon in the address bar) to talk; typing still works.',
      );
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new MicError(
        'no-device',
        'No microphone was found. Connect one to talk; typing still works.',
      );
    case 'NotReadableError':
    case 'AbortError':
      return new MicError(
        'busy',
        'The microphone could not be started (another application may be using it).',
      );
    default:
      return new MicError('failed', `The microphone could not be started: ${err?.message || err}`);
  }
}

export class MicCapture {
  /**
   * @param {object} hooks
   * @param {(pcm: ArrayBuffer, rms: number) => void} hooks.onFrame  one 20 ms PCM16 LE frame
   * @param {(error: MicError) => void} hooks.onEnded  the device went away while capturing
   */
  constructor({ onFrame, onEnded }) {
    this.onFrame = onFrame;
    this.onEnded = onEnded;
    this.stream = null;
    this.context = null;
    this.node = null;
    this.generation = 0; // a stop() during a slow start cancels that start
  }

  get running() {
    return this.node !== null;
  }

  /** Ask for the microphone and start posting frames; throws a MicError. */
  async start() {
    if (this.running) return;
    const generation = ++this.generation;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new MicError(
        'unsupported',
        'This browser gives no microphone access here (it needs HTTPS or localhost).',
      );
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(CONSTRAINTS);
    } catch (err) {
      throw explain(err);
    }
    if (generation !== this.generation) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    const context = new AudioContext({ latencyHint: 'interactive' });
    try {
      await context.audioWorklet.addModule(new URL('./mic-worklet.js', import.meta.url));
      const node = new AudioWorkletNode(context, 'pcm16-downsampler', {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        channelCount: 1,
        channelCountMode: 'explicit', // a stereo device is mixed down to mono by the graph
        processorOptions: { targetRate: SAMPLE_RATE, frameSamples: FRAME_SAMPLES },
      });
      node.port.onmessage = (msg) => {
        if (this.node === node) this.onFrame(msg.data.pcm, msg.data.rms);
      };
      context.createMediaStreamSource(stream).connect(node);
      node.connect(context.destination); // its output is silence; this keeps it rendering
      await context.resume();
      if (generation !== this.generation) throw new Error('stopped');
      this.stream = stream;
      this.context = context;
      this.node = node;
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      context.close().catch(() => {});
      if (generation !== this.generation) return;
      throw new MicError('failed', `Audio processing could not start: ${err.message || err}`);
    }
    for (const track of stream.getAudioTracks()) {
      track.addEventListener('ended', () => {
        if (this.stream !== stream) return;
        this.stop();
        this.onEnded(new MicError('no-device', 'The microphone was disconnected.'));
      });
    }
  }

  stop() {
    this.generation += 1;
    if (this.node) this.node.port.onmessage = null;
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.context) this.context.close().catch(() => {});
    this.node = null;
    this.stream = null;
    this.context = null;
  }

  /** The AudioContext's own rate (what the worklet resamples from), or null when stopped. */
  get inputRate() {
    return this.context ? this.context.sampleRate : null;
  }
}
