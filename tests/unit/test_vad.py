"""SileroVAD on generated espeak-ng speech: boundaries, chunking, memory, limits."""

from __future__ import annotations

import numpy as np
import pytest

from actors.core.messages import AudioChunk, SpeechStarted, Utterance
from actors.engines.vad.silero import WINDOW, SileroVAD
from tests.fakes.speech import speech_with_silence

pytestmark = pytest.mark.unit

SR = 16000
SENTENCES = {
    "statements": [
        "Hello there, how are you today?",
        "The quick brown fox jumps over the lazy dog.",
        "Please turn on the lights in the kitchen.",
    ],
    "questions": [
        "What time is it?",
        "I would like a cup of coffee, please.",
        "Seven, eight, nine.",
    ],
}
# Weak unvoiced edges: an initial "s" or "th", a final "p" whose aspiration follows a
# silent closure. The model scores them late or not at all, and at 10 dB SNR noise
# masks them, so these edges land up to about 110 ms off.
WEAK_EDGES = [
    "Stop.",
    "Can you tell me a story about a dragon?",
    "Thank you very much for your help.",
]
GAPS_S = [1.0, 1.3, 1.1, 1.0]
TOLERANCE_S = 0.1


def feed_in_chunks(vad: SileroVAD, pcm: np.ndarray, sizes) -> list:
    events, at = [], 0
    for size in sizes:
        if at >= len(pcm):
            break
        events += vad.feed(pcm[at : at + size])
        at += size
    assert at >= len(pcm)
    return events


def streamed(vad: SileroVAD, pcm: np.ndarray, chunk: int = 320) -> list:
    """Feed like a client does (20 ms messages)."""
    return feed_in_chunks(vad, pcm, [chunk] * (len(pcm) // chunk + 1))


def assert_well_formed(events: list) -> None:
    """SpeechStarted and Utterance alternate; each Utterance belongs to the one before it."""
    for i, event in enumerate(events):
        if i % 2 == 0:
            assert isinstance(event, SpeechStarted)
        else:
            assert isinstance(event, Utterance)
            assert event.start_s == events[i - 1].at_s
            assert event.end_s > event.start_s
            assert event.sample_rate == SR and event.pcm.dtype == np.int16


def utterances_against_truth(texts: list[str], noise: str | None) -> tuple:
    pcm, truth = speech_with_silence(
        texts, GAPS_S, noise_snr_db=None if noise is None else 10.0, noise=noise or "white"
    )
    vad = SileroVAD()
    events = streamed(vad, pcm)
    assert_well_formed(events)
    assert not vad.speaking
    return pcm, truth, [e for e in events if isinstance(e, Utterance)]


@pytest.mark.parametrize("noise", [None, "white", "pink"])
@pytest.mark.parametrize("sentences", sorted(SENTENCES))
def test_boundaries_within_100ms_of_truth(sentences: str, noise: str | None) -> None:
    """ACCEPTANCE: onset and end within 100 ms, clean and at 10 dB SNR."""
    pcm, truth, utterances = utterances_against_truth(SENTENCES[sentences], noise)
    assert len(utterances) == len(truth)
    for utterance, (start_s, end_s) in zip(utterances, truth, strict=True):
        assert utterance.start_s == pytest.approx(start_s, abs=TOLERANCE_S)
        assert utterance.end_s == pytest.approx(end_s, abs=TOLERANCE_S)
        # The audio handed to ASR covers the whole utterance and some pre-roll.
        first = round(utterance.start_s * SR) - 300 * SR // 1000
        np.testing.assert_array_equal(utterance.pcm[: 2 * WINDOW], pcm[first : first + 2 * WINDOW])
        assert len(utterance.pcm) >= (end_s - start_s + 0.3) * SR


@pytest.mark.parametrize("noise", [None, "white", "pink"])
def test_weak_unvoiced_edges_within_150ms(noise: str | None) -> None:
    _, truth, utterances = utterances_against_truth(WEAK_EDGES, noise)
    assert len(utterances) == len(truth)
    for utterance, (start_s, end_s) in zip(utterances, truth, strict=True):
        assert utterance.start_s == pytest.approx(start_s, abs=0.15)
        assert utterance.end_s == pytest.approx(end_s, abs=0.15)


def test_odd_chunk_sizes_give_identical_events() -> None:
    pcm, _ = speech_with_silence(SENTENCES["statements"][:2], [0.7, 1.0, 0.8])
    aligned = feed_in_chunks(SileroVAD(), pcm, [WINDOW] * (len(pcm) // WINDOW + 1))
    rng = np.random.default_rng(1)
    odd_sizes = [0, 1, 511, 513, 1023, 7] + list(rng.integers(1, 3000, size=len(pcm)))
    odd = feed_in_chunks(SileroVAD(), pcm, odd_sizes)
    whole = SileroVAD().feed(pcm)
    assert len(aligned) == 4
    for other in (odd, whole):
        assert len(other) == len(aligned)
        for a, b in zip(aligned, other, strict=True):
            assert type(a) is type(b)
            if isinstance(a, Utterance):
                assert (a.start_s, a.end_s) == (b.start_s, b.end_s)
                np.testing.assert_array_equal(a.pcm, b.pcm)
            else:
                assert a == b


def test_ten_minutes_of_silence_keeps_memory_bounded() -> None:
    vad = SileroVAD(pre_roll_ms=300)
    rng = np.random.default_rng(2)
    bound = vad.pre_roll_samples + 5 * WINDOW  # pre-roll, rising edge, one partial window
    largest = 0
    for _ in range(600):
        quiet = (rng.standard_normal(SR) * 30).astype(np.int16)  # about -60 dBFS room noise
        assert vad.feed(quiet) == []
        largest = max(largest, vad.buffered_samples)
    assert largest <= bound
    assert not vad.speaking
    assert vad.flush() == []


def test_speech_past_max_utterance_is_cut_into_contiguous_pieces() -> None:
    texts = ["The quick brown fox jumps over the lazy dog."] * 2
    pcm, truth = speech_with_silence(texts, [0.5, 0.0, 1.5])
    vad = SileroVAD(max_utterance_s=2.0, min_silence_ms=1000)
    events = streamed(vad, pcm)
    assert_well_formed(events)
    pieces = [e for e in events if isinstance(e, Utterance)]
    assert len(pieces) >= 2
    assert pieces[0].end_s - pieces[0].start_s <= 2.0 + WINDOW / SR
    for before, after in zip(pieces, pieces[1:], strict=False):
        if before.end_s - before.start_s >= 2.0 - 3 * WINDOW / SR:  # this one was cut
            assert after.start_s == before.end_s  # seamless: no gap, no overlap
            cut = round(after.start_s * SR)
            np.testing.assert_array_equal(after.pcm, pcm[cut : cut + len(after.pcm)])
    assert pieces[-1].end_s == pytest.approx(truth[-1][1], abs=TOLERANCE_S)


def test_stream_ending_mid_speech_is_flushed() -> None:
    pcm, truth = speech_with_silence(SENTENCES["statements"][:1], [0.5, 0.0])
    vad = SileroVAD()
    events = streamed(vad, pcm)
    assert [type(e) for e in events] == [SpeechStarted]
    assert vad.speaking
    (utterance,) = vad.flush()
    assert utterance.start_s == events[0].at_s
    assert utterance.end_s == pytest.approx(truth[0][1], abs=TOLERANCE_S)
    assert not vad.speaking


def test_speech_shorter_than_min_speech_is_ignored() -> None:
    pcm, _ = speech_with_silence(SENTENCES["statements"][:1], [0.5, 1.0])  # under 2 s of speech
    assert SileroVAD(min_speech_ms=3000).feed(pcm) == []
    assert len(SileroVAD(min_speech_ms=250).feed(pcm)) == 2


def test_streams_share_the_model_but_not_state() -> None:
    a_pcm, _ = speech_with_silence(SENTENCES["statements"][:1], [0.4, 1.0])
    b_pcm, _ = speech_with_silence(WEAK_EDGES[1:2], [1.2, 1.0], noise_snr_db=15)
    alone = [SileroVAD().feed(a_pcm), SileroVAD().feed(b_pcm)]
    a, b = SileroVAD(), SileroVAD()
    assert a.model is b.model
    together = [[], []]
    for at in range(0, max(len(a_pcm), len(b_pcm)), 640):  # interleaved 40 ms chunks
        together[0] += a.feed(a_pcm[at : at + 640])
        together[1] += b.feed(b_pcm[at : at + 640])
    for mine, theirs in zip(alone, together, strict=True):
        assert [(type(e), getattr(e, "at_s", getattr(e, "start_s", None))) for e in mine] == [
            (type(e), getattr(e, "at_s", getattr(e, "start_s", None))) for e in theirs
        ]


def test_reset_starts_a_new_stream_at_time_zero() -> None:
    pcm, _ = speech_with_silence(SENTENCES["statements"][:1], [0.6, 1.0])
    vad = SileroVAD()
    first = vad.feed(pcm[: len(pcm) - 1000])
    vad.reset()
    second = vad.feed(pcm[: len(pcm) - 1000])
    assert [getattr(e, "at_s", None) for e in first] == [getattr(e, "at_s", None) for e in second]
    assert first[0].at_s < 1.0


def test_clipped_square_audio_and_loud_noise_do_not_crash() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(5 * SR) / SR
    square = np.where(np.sin(2 * np.pi * 180 * t) >= 0, 32767, -32768).astype(np.int16)
    speech, _ = speech_with_silence(SENTENCES["statements"][:1], [0.2, 0.5])
    clipped = np.clip(speech.astype(np.int32) * 40, -32768, 32767).astype(np.int16)
    noise = np.clip(rng.standard_normal(5 * SR) * 12000, -32768, 32767).astype(np.int16)
    for pcm in (square, clipped, noise, np.zeros(3 * SR, np.int16)):
        vad = SileroVAD()
        events = streamed(vad, pcm) + vad.flush()
        assert_well_formed([e for e in events])
        assert all(0.0 <= getattr(e, "at_s", 0.0) <= len(pcm) / SR for e in events)


def test_only_16khz_int16_mono_is_accepted() -> None:
    with pytest.raises(ValueError, match="16000"):
        SileroVAD(sample_rate=8000)
    vad = SileroVAD()
    with pytest.raises(ValueError, match="16000 Hz"):
        vad.feed_chunk(AudioChunk(pcm=np.zeros(480, np.int16), sample_rate=48000))
    with pytest.raises(ValueError, match="int16"):
        vad.feed(np.zeros(512, np.float32))
    with pytest.raises(ValueError, match="int16"):
        vad.feed(np.zeros((2, 512), np.int16))
    assert vad.feed_chunk(AudioChunk(pcm=np.zeros(1600, np.int16))) == []


@pytest.mark.parametrize(
    "options",
    [
        {"threshold": 1.5},
        {"threshold": 0.5, "neg_threshold": 0.6},
        {"end_threshold": 0.3},
        {"min_silence_ms": -1},
        {"max_utterance_s": 0.01},
    ],
)
def test_invalid_options_are_refused(options: dict) -> None:
    with pytest.raises(ValueError):
        SileroVAD(**options)


def test_from_settings_takes_every_vad_field():
    from config import VADSettings

    s = VADSettings(threshold=0.6, neg_threshold=0.3, min_speech_ms=100, min_silence_ms=700,
                    pre_roll_ms=200, max_utterance_s=12.0)  # fmt: skip
    vad = SileroVAD.from_settings(s)
    assert (vad.threshold, vad.neg_threshold) == (0.6, 0.3)
    assert vad.min_speech_samples == 1600 and vad.min_silence_samples == 11200
    assert vad.pre_roll_samples == 3200 and vad.max_utterance_samples == 192000
