// Plays each reply turn's fragmented MP4 through Media Source Extensions on the talking
// <video>, which sits on top of the looping idle video. The talking video stays transparent
// until its first frame is on screen and fades out when the turn ends, so the viewer never
// sees a black or frozen frame between idle and talking.

export const DEFAULT_CODECS = 'avc1.42E01E, mp4a.40.2';
const FADE_OUT_MS = 260;
const STALL_GRACE_MS = 250; // a short hiccup keeps the talking face; a longer gap goes idle
// Playback of a turn starts once this much of it is buffered (or all of it, if shorter): a
// small jitter buffer. At low load the second fragment follows the first within tens of
// milliseconds, so it costs little; under load it absorbs a late fragment without a stall.
// bench/serve_latency_turns.py models exactly this rule (START_BUFFER_S there).
export const START_BUFFER_S = 0.5;

/** Media of one turn: payloads by seq, appended in order once its MediaSource is open. */
class TurnStream {
  constructor(turnId) {
    this.turnId = turnId;
    this.codecs = DEFAULT_CODECS;
    this.waiting = new Map(); // seq -> payload, not yet in order
    this.nextSeq = 0;
    this.appendQueue = []; // in order, waiting for the SourceBuffer to be free
    this.complete = false; // turn_end seen: no more media will come
    this.mediaSource = null;
    this.sourceBuffer = null;
    this.shown = false;
    this.stalled = false;
    this.started = false; // play() called: enough was buffered
  }

  /** Move payloads that are next in seq order onto the append queue. */
  admit() {
    while (this.waiting.has(this.nextSeq)) {
      this.appendQueue.push(this.waiting.get(this.nextSeq));
      this.waiting.delete(this.nextSeq);
      this.nextSeq += 1;
    }
  }
}

export class TalkingPlayer {
  /**
   * @param {HTMLVideoElement} video  the talking video (not muted: replies have sound)
   * @param {object} hooks  onFirstFrame(turnId), onPlaying(turnId), onTurnDone(turnId, how, decodedFrames)
   *   (how: ended | interrupted | failed), onStall(turnId), onSoundBlocked(blocked),
 *   onError(message)
   */
  constructor(video, hooks = {}) {
    this.video = video;
    this.hooks = hooks;
    this.streams = new Map(); // turnId -> TurnStream, in play order
    this.current = null;
    this.dropped = new Set(); // interrupted turns: their late media is ignored
    this.fadeTimer = null;
    this.stallTimer = null;
    video.addEventListener('playing', () => {
      clearTimeout(this.stallTimer);
      if (!this.current) return;
      if (this.current.stalled) {
        this.current.stalled = false;
        this._reveal();
      }
      this.hooks.onPlaying?.(this.current.turnId);
    });
    // Media arriving slower than real time stalls playback: rather than hold a frozen face,
    // fade to the idle loop until frames flow again.
    video.addEventListener('waiting', () => {
      const stream = this.current;
      if (!stream || !stream.shown) return;
      clearTimeout(this.stallTimer);
      this.stallTimer = setTimeout(() => {
        if (this.current !== stream || video.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA) return;
        stream.stalled = true;
        this._hide(false);
        this.hooks.onStall?.(stream.turnId);
      }, STALL_GRACE_MS);
    });
    video.addEventListener('timeupdate', () => {
      // Fallback for browsers without requestVideoFrameCallback.
      if (this.current && !this.current.shown && video.currentTime > 0) this._shown(this.current);
    });
    video.addEventListener('ended', () => {
      if (this.current) this._finish(this.current, 'ended');
    });
    video.addEventListener('error', () => {
      if (!this.current || !video.error) return;
      this.hooks.onError?.(`the reply video could not be played: ${video.error.message || 'error'}`);
      this._finish(this.current, 'failed');
    });
  }

  /** Is a turn on screen (first frame shown, not yet finished)? */
  get speaking() {
    return this.current !== null && this.current.shown && !this.current.stalled;
  }

  /** Has the current turn run out of media mid-reply (idle loop shown until more comes)? */
  get stalled() {
    return this.current !== null && this.current.stalled;
  }

  /** Turns with media that have not finished playing (including the current one). */
  get pendingTurns() {
    return [...this.streams.keys()];
  }

  get currentTurnId() {
    return this.current ? this.current.turnId : null;
  }

  /** A binary media message of a turn arrived; returns false if it was dropped. */
  push(header, payload) {
    const turnId = header.turn_id;
    if (!turnId || this.dropped.has(turnId)) return false;
    let stream = this.streams.get(turnId);
    if (!stream) {
      stream = new TurnStream(turnId);
      this.streams.set(turnId, stream);
    }
    if (header.kind === 'init' && typeof header.codecs === 'string' && header.codecs) {
      stream.codecs = header.codecs;
    }
    stream.waiting.set(Number(header.seq), payload);
    stream.admit();
    if (this.current === null) this._start(this.streams.values().next().value);
    else if (stream === this.current) this._pump(stream);
    return true;
  }

  /** turn_end: the turn's media is complete. Returns false when it has no media at all. */
  complete(turnId) {
    const stream = this.streams.get(turnId);
    if (!stream) return false;
    stream.complete = true;
    if (stream === this.current) this._pump(stream);
    return true;
  }

  /** Stop a turn now (interrupt): hide it at once and ignore its late media. */
  abort(turnId) {
    this.dropped.add(turnId);
    const stream = this.streams.get(turnId);
    if (!stream) return;
    if (stream === this.current) {
      this._finish(stream, 'interrupted');
    } else {
      this.streams.delete(turnId);
      this.hooks.onTurnDone?.(turnId, 'interrupted');
    }
  }

  abortAll() {
    // Waiting turns first, so stopping the current one does not start the next.
    for (const turnId of [...this.streams.keys()]) {
      if (this.streams.get(turnId) !== this.current) this.abort(turnId);
    }
    if (this.current) this.abort(this.current.turnId);
  }

  /** Call from a user gesture: unmute and resume sound after the browser blocked it. */
  enableSound() {
    this.video.muted = false;
    this.hooks.onSoundBlocked?.(false);
    if (this.current?.started) this.video.play().catch(() => {});
  }

  decodedFrames() {
    const quality = this.video.getVideoPlaybackQuality?.();
    return quality ? quality.totalVideoFrames : 0;
  }

  _start(stream) {
    clearTimeout(this.fadeTimer);
    this.current = stream;
    this._hide(true); // shown again on its first frame: the idle video covers the gap
    const mediaSource = new MediaSource();
    stream.mediaSource = mediaSource;
    const url = URL.createObjectURL(mediaSource);
    mediaSource.addEventListener(
      'sourceopen',
      () => {
        URL.revokeObjectURL(url);
        if (this.current !== stream) return;
        try {
          stream.sourceBuffer = mediaSource.addSourceBuffer(`video/mp4; codecs="${stream.codecs}"`);
        } catch (err) {
          this.hooks.onError?.(`cannot play this media (${stream.codecs}): ${err.message}`);
          this._finish(stream, 'failed');
          return;
        }
        stream.sourceBuffer.addEventListener('updateend', () => this._pump(stream));
        this._pump(stream);
      },
      { once: true },
    );
    this.video.src = url;
    this._watchFirstFrame(stream);
  }

  /** Start playing once START_BUFFER_S is buffered, or the whole turn if it is shorter. */
  _maybeStart(stream) {
    if (stream.started || this.current !== stream) return;
    const ranges = this.video.buffered; // for MSE: where both tracks are buffered
    const ahead = ranges.length ? ranges.end(ranges.length - 1) - this.video.currentTime : 0;
    const all = stream.complete && stream.appendQueue.length === 0;
    if (ahead >= START_BUFFER_S || (all && ahead > 0)) {
      stream.started = true;
      this._play();
    }
  }

  _play() {
    // Try with sound each time: a send click or Enter press since the last refusal may allow it.
    this.video.muted = false;
    this.video.play().catch((err) => {
      if (err.name !== 'NotAllowedError' || !this.current) return; // AbortError: src changed
      this.video.muted = true; // still show the face; sound waits for a click
      this.hooks.onSoundBlocked?.(true);
      this.video.play().catch(() => {});
    });
  }

  _pump(stream) {
    const sb = stream.sourceBuffer;
    if (!sb || sb.updating || stream.mediaSource.readyState !== 'open') return;
    this._maybeStart(stream);
    if (stream.appendQueue.length > 0) {
      try {
        sb.appendBuffer(stream.appendQueue.shift());
      } catch (err) {
        this.hooks.onError?.(`media append failed: ${err.message}`);
        this._finish(stream, 'failed');
      }
      return;
    }
    // Payloads after a gap can never be appended once the turn is complete: end the stream.
    if (stream.complete) {
      stream.waiting.clear();
      try {
        stream.mediaSource.endOfStream();
      } catch {
        /* already ended */
      }
      this._maybeStart(stream);
    }
  }

  _watchFirstFrame(stream) {
    const video = this.video;
    if (typeof video.requestVideoFrameCallback === 'function') {
      video.requestVideoFrameCallback(() => {
        if (this.current === stream) this._shown(stream);
      });
    }
  }

  _shown(stream) {
    if (stream.shown) return;
    stream.shown = true;
    this._reveal();
    this.hooks.onFirstFrame?.(stream.turnId);
  }

  _reveal() {
    this.video.classList.remove('instant');
    this.video.classList.add('visible');
  }

  _hide(instant) {
    this.video.classList.toggle('instant', instant);
    this.video.classList.remove('visible');
  }

  _detach() {
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
  }

  _finish(stream, how) {
    clearTimeout(this.stallTimer);
    this.streams.delete(stream.turnId);
    if (this.current !== stream) return;
    this.current = null;
    this.hooks.onTurnDone?.(stream.turnId, how, this.decodedFrames());
    const next = this.streams.values().next().value;
    if (next) {
      this._start(next);
      return;
    }
    if (how === 'ended') {
      // Fade the last frame out over the idle loop, then release the media.
      this._hide(false);
      this.fadeTimer = setTimeout(() => {
        if (this.current === null) this._detach();
      }, FADE_OUT_MS + 40);
    } else {
      this._hide(true);
      this._detach();
    }
  }
}
