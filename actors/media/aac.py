"""The audio half of ``FragmentedMP4Encoder``: mono PCM16 in, AAC packets out, whole frames.

Audio pts count samples (1/sample_rate) from the stream start. FFmpeg's native AAC encoder
puts ``AAC_PRIMING_SAMPLES`` of priming in front of the audio and holds back about two frames
(~85-128 ms at 24 kHz); taking ``AUDIO_LOOKAHEAD`` samples of the audio that follows early
lets a fragment's audio reach the end of its video all the same.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

AAC_PRIMING_SAMPLES = 1024  # FFmpeg's native AAC encoder delay (its initial_padding)
# Audio taken ahead of the video (see ``FragmentedMP4Encoder.encode``): the priming frame, the
# frame the encoder waits for, and one more so a fragment's audio ends at or after its video.
AUDIO_LOOKAHEAD = 3 * 1024
AAC_SAMPLE_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000)


class AACEncoder:
    """An AAC stream of ``container`` fed mono PCM16; it encodes only whole AAC frames until
    ``encode(flush=True)``."""

    def __init__(
        self, container: av.container.OutputContainer, *, sample_rate: int, bit_rate: int
    ) -> None:
        # The fast coder costs a third of the default two-loop search; speech at 64 kbit/s
        # does not need the search, and AAC was the largest part of encoding time.
        self.stream = container.add_stream(
            "aac", rate=sample_rate, layout="mono", options={"aac_coder": "fast"}
        )
        self.stream.bit_rate = bit_rate
        self.stream.codec_context.time_base = Fraction(1, sample_rate)
        self.sample_rate = sample_rate
        self._pending = np.zeros(0, dtype=np.float32)  # audio not yet a whole AAC frame
        self._pts = 0
        self._taken = 0  # samples handed to the AAC encoder, including look-ahead
        self._priming_checked = False

    def add(self, pcm: np.ndarray, at: int, upcoming: np.ndarray | None = None) -> None:
        """Queue ``pcm``, the stream's samples from ``at`` on, less what was taken ahead
        already, and the first ``AUDIO_LOOKAHEAD`` samples of ``upcoming`` (what follows)."""
        new = [pcm[max(0, self._taken - at) :]]
        if upcoming is not None:
            new.append(upcoming[max(0, self._taken - (at + len(pcm))) : AUDIO_LOOKAHEAD])
        for part in new:
            self._pending = np.concatenate([self._pending, part.astype(np.float32) / 32768.0])
            self._taken += len(part)

    def encode(self, *, flush: bool) -> list[av.Packet]:
        """Packets of the whole frames queued; with ``flush``, of everything left."""
        size = self.stream.codec_context.frame_size
        packets = []
        while len(self._pending) >= size or (flush and len(self._pending)):
            block, self._pending = self._pending[:size], self._pending[size:]
            frame = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = self.sample_rate, self._pts
            frame.time_base = Fraction(1, self.sample_rate)
            self._pts += len(block)
            packets += self.stream.encode(frame)
        if flush:
            packets += self.stream.encode(None)
        if packets and not self._priming_checked:
            # The edit list FragmentedMP4Encoder.start() writes assumes exactly this delay.
            if packets[0].pts != -AAC_PRIMING_SAMPLES:
                raise RuntimeError(f"AAC encoder delay is {-packets[0].pts}, expected 1024")
            self._priming_checked = True
        return packets
