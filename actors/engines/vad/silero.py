"""Streaming voice activity detection: speech segments of one 16 kHz stream.

Windows are scored by the process-wide Silero model (``actors.engines.vad.silero_model``); the LSTM
state, context and buffers belong to each ``SileroVAD`` (one per audio stream).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from actors.core.messages import SpeechStarted, Utterance
from actors.engines.vad.base import VAD
from actors.engines.vad.silero_model import CONTEXT, WINDOW, SileroModel, shared_model
from config import VADSettings

_MAX_BATCH = 1024  # windows per session.run; bounds the float copy of a huge feed
_RISE_LEVEL = 0.1  # a window just before the trigger at this probability is speech's onset
_RISE_WINDOWS = 3  # ... for at most this many windows (96 ms)


class SileroVAD(VAD):
    """``AudioChunk -> SpeechStarted | Utterance``: speech segments of one 16 kHz stream.

    Each window's probability passes through hysteresis: speech starts at ``threshold``
    and lasts until the probability falls below ``neg_threshold``. A run of speech starts
    at a window above ``threshold`` and ends after ``min_silence_ms`` out of the speech
    state, so shorter pauses (a stop consonant, a breath) stay inside it. It is announced
    (``SpeechStarted``) once it spans ``min_speech_ms`` from its first to its latest speech
    window, so the event fires that late; a run that ends shorter is dropped as a blip.
    Its ``Utterance`` comes when it ends. Times are seconds since the stream's first sample:

    - ``at_s`` / ``start_s``, the onset: the start of the first window above
      ``threshold``, moved back over up to three windows of rising probability
      (>= ``_RISE_LEVEL``) just before it, since the model is slow on weak onsets ("s").
    - ``end_s``: the end of the last window scored at ``end_threshold`` or more (above
      ``threshold`` if none was): when speech stopped, not when the event fired. After
      speech stops the probability decays for 100-300 ms (slowest in noise), so the last
      window above ``threshold`` or ``neg_threshold`` would stamp the end late.
    - ``pcm`` runs from ``pre_roll_ms`` before the onset (less at the stream's start) to
      ``pre_roll_ms`` past the last window in the speech state: ASR gets the soft edges.

    Speech longer than ``max_utterance_s`` is cut there: that piece is emitted and a new
    utterance (with its own ``SpeechStarted``) continues seamlessly from the cut. Memory
    is bounded: outside speech only about a pre-roll's worth of audio is kept.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        neg_threshold: float | None = None,
        end_threshold: float | None = None,
        min_speech_ms: int = 250,
        min_silence_ms: int = 500,
        pre_roll_ms: int = 300,
        max_utterance_s: float = 30.0,
        sample_rate: int = 16000,
        model: SileroModel | None = None,
    ):
        if sample_rate != 16000:
            raise ValueError(f"SileroVAD supports sample_rate 16000 only, got {sample_rate}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be within (0, 1), got {threshold}")
        if neg_threshold is None:
            neg_threshold = max(threshold - 0.15, 0.01)
        if not 0.0 < neg_threshold <= threshold:
            raise ValueError(f"neg_threshold must be within (0, threshold], got {neg_threshold}")
        if end_threshold is None:
            end_threshold = (1.0 + threshold) / 2
        if not threshold <= end_threshold < 1.0:
            raise ValueError(f"end_threshold must be within [threshold, 1), got {end_threshold}")
        if min_speech_ms < 0 or min_silence_ms < 0 or pre_roll_ms < 0:
            raise ValueError("min_speech_ms, min_silence_ms and pre_roll_ms must be >= 0")
        if max_utterance_s * 1000 <= min_speech_ms or max_utterance_s <= WINDOW / sample_rate:
            raise ValueError(f"max_utterance_s is too short: {max_utterance_s}")
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self.end_threshold = end_threshold
        self.sample_rate = sample_rate
        self.min_speech_samples = sample_rate * min_speech_ms // 1000
        self.min_silence_samples = sample_rate * min_silence_ms // 1000
        self.pre_roll_samples = sample_rate * pre_roll_ms // 1000
        # Audio kept while idle: the pre-roll before an onset moved back over a rising edge.
        self._idle_keep = self.pre_roll_samples + _RISE_WINDOWS * WINDOW
        self.max_utterance_samples = int(sample_rate * max_utterance_s)
        self.model = model or shared_model()
        self.reset()

    @classmethod
    def from_settings(cls, settings: VADSettings) -> SileroVAD:
        """A VAD configured by ``config.VADSettings`` (the ``vad`` section)."""
        options = ("threshold", "neg_threshold", "min_speech_ms", "min_silence_ms")
        options += ("pre_roll_ms", "max_utterance_s")
        return cls(**{name: getattr(settings, name) for name in options})

    def reset(self) -> None:
        """Forget everything: a new stream starts at time 0."""
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.int16)  # < WINDOW samples not yet scored
        self._kept: deque[np.ndarray] = deque()  # scored windows still needed, oldest first
        self._kept_start = 0  # stream sample index of _kept[0][0]
        self._scored = 0  # samples scored so far (end of the last window)
        self._in_speech = False  # hysteresis state of the last window
        self._recent_probs: deque[float] = deque(maxlen=_RISE_WINDOWS)  # while idle
        self._onset: int | None = None  # start sample of the current run of speech
        self._trigger = 0  # start of its first window >= threshold
        self._confirmed = False  # SpeechStarted emitted for the current run
        self._last_speech_end = 0  # end sample of the last window in the speech state
        self._end_stamp: int | None = None  # end of the last window >= end_threshold
        self._end_fallback = 0  # end of the last window >= threshold

    @property
    def speaking(self) -> bool:
        """True between a ``SpeechStarted`` and its ``Utterance``."""
        return self._confirmed

    @property
    def speech_run_ms(self) -> float:
        """How long the current stretch of speech has lasted so far (0 outside speech).

        Unlike ``SpeechStarted`` (which waits for ``min_speech_ms``), this lets a caller
        react to shorter sustained speech, e.g. barge-in while the avatar is talking.
        """
        if self._onset is None or not self._in_speech:
            return 0.0
        return (self._last_speech_end - self._trigger) * 1000 / self.sample_rate

    @property
    def stream_s(self) -> float:
        """Seconds of audio scored so far."""
        return self._scored / self.sample_rate

    @property
    def buffered_samples(self) -> int:
        """Samples held in memory (pending plus kept audio)."""
        return len(self._pending) + sum(len(w) for w in self._kept)

    def feed(self, pcm: np.ndarray) -> list[SpeechStarted | Utterance]:
        """Add PCM16 mono samples of any length; return the events they complete."""
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"expected 1-D int16 PCM, got {pcm.dtype} with shape {pcm.shape}")
        data = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        n_windows = len(data) // WINDOW
        self._pending = data[n_windows * WINDOW :].copy()
        events: list[SpeechStarted | Utterance] = []
        for first in range(0, n_windows, _MAX_BATCH):
            count = min(_MAX_BATCH, n_windows - first)
            block = data[first * WINDOW : (first + count) * WINDOW].reshape(count, WINDOW)
            for window, prob in zip(block, self._score(block), strict=True):
                self._kept.append(window.copy())
                self._scored += WINDOW
                self._step(float(prob), events)
        return events

    def flush(self) -> list[Utterance]:
        """End of stream: emit the utterance in progress, if speech was confirmed."""
        events: list[SpeechStarted | Utterance] = []
        if self._confirmed:
            self._finish(events)
        self.reset()
        return [e for e in events if isinstance(e, Utterance)]

    def _score(self, block: np.ndarray) -> np.ndarray:
        audio = block.astype(np.float32) / 32768.0
        context = np.empty((len(audio), CONTEXT), np.float32)
        context[0] = self._context
        context[1:] = audio[:-1, -CONTEXT:]
        self._context = audio[-1, -CONTEXT:].copy()
        probs, self._h, self._c = self.model.score(
            np.concatenate([context, audio], axis=1), self._h, self._c
        )
        return probs

    def _step(self, prob: float, events: list) -> None:
        start = self._scored - WINDOW
        self._in_speech = prob >= (self.neg_threshold if self._in_speech else self.threshold)
        if self._in_speech:
            self._last_speech_end = self._scored
            if self._onset is None:
                self._start_run(start)
            if prob >= self.end_threshold:
                self._end_stamp = self._scored
            if prob >= self.threshold:
                self._end_fallback = self._scored
        if self._onset is None:
            self._recent_probs.append(prob)
            self._trim_to(self._scored - self._idle_keep)
        elif not self._confirmed:
            if self._scored - self._last_speech_end >= self.min_silence_samples:
                self._onset = None  # it ended shorter than min_speech_ms: a blip, not speech
                self._trim_to(self._scored - self._idle_keep)
            elif self._last_speech_end - self._trigger >= self.min_speech_samples:
                self._confirmed = True
                events.append(SpeechStarted(at_s=self._onset / self.sample_rate))
        elif self._scored - self._last_speech_end >= self.min_silence_samples:
            self._finish(events)
        elif self._scored - self._onset >= self.max_utterance_samples and not self._in_speech:
            self._finish(events)  # in a pause already: end here rather than cut
        elif self._scored - self._onset >= self.max_utterance_samples:
            self._finish(events, cut=True)
            # Still speaking: the next piece starts exactly at the cut, with no pre-roll.
            self._start_run(self._scored)
            self._confirmed = True
            self._trim_to(self._scored)
            events.append(SpeechStarted(at_s=self._onset / self.sample_rate))

    def _start_run(self, trigger: int) -> None:
        # The probability lags the audio at onset too (weak fricatives like "s", "th"):
        # the onset includes the rising edge, up to _RISE_WINDOWS windows >= _RISE_LEVEL.
        rising = 0
        for p in reversed(self._recent_probs):
            if p < _RISE_LEVEL:
                break
            rising += 1
        self._recent_probs.clear()
        self._trigger = trigger
        self._onset = max(0, trigger - rising * WINDOW)
        self._end_stamp, self._end_fallback = None, trigger

    def _finish(self, events: list, *, cut: bool = False) -> None:
        """Emit the current utterance; ``cut``: it is still going on, end it here."""
        assert self._onset is not None
        if cut:
            end = last = self._scored
        else:
            end = self._end_fallback if self._end_stamp is None else self._end_stamp
            last = min(self._last_speech_end + self.pre_roll_samples, self._scored)
        first = max(self._onset - self.pre_roll_samples, self._kept_start)
        kept = np.concatenate(self._kept) if self._kept else np.zeros(0, np.int16)
        pcm = kept[first - self._kept_start : last - self._kept_start].copy()
        sr = self.sample_rate
        events.append(Utterance(pcm=pcm, sample_rate=sr, start_s=self._onset / sr, end_s=end / sr))
        self._onset, self._confirmed = None, False
        self._trim_to(self._scored - self._idle_keep)

    def _trim_to(self, sample: int) -> None:
        """Drop whole kept windows that end at or before ``sample``."""
        while self._kept and self._kept_start + len(self._kept[0]) <= sample:
            self._kept_start += len(self._kept.popleft())
