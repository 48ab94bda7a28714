"""Silence-aware lip-sync: silent frames skip Wav2Lip and show the pack's frame, blended at the
edges of speech; the Avatar's frame stream keeps its chunks, order and count (no Ray: the
LipSync pool is a fake handle running the random-weight model in-process)."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest
from pydantic import ValidationError

from actors.core.messages import TTSAudio, pad_to_frames
from actors.core.pixels import rgb_to_yuv420p
from actors.engines.avatar.catalog import AvatarCatalog
from actors.engines.avatar.silence import (
    SilenceSkip,
    blend_frames,
    column_levels_db,
    ramp_weights,
    silence_from_settings,
)
from actors.engines.avatar.wav2lip import Wav2LipAvatar
from actors.engines.avatar.wav2lip_runner import Wav2LipRunner
from config import LipSyncSettings, Settings
from serve_app.deployments.avatar_frames import wav2lip_frames
from tests.fakes.fake_handles import FakeLipSyncHandle

RATE = 24000  # the TTS stage's rate
CHUNK, IN_FLIGHT, FIRST = 8, 3, 7


def _marks(weights: np.ndarray) -> str:
    return "".join("#" if w == 1 else "." if w == 0 else "~" for w in weights)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(RATE * seconds), np.int16)


def _audio(pcm: np.ndarray) -> TTSAudio:
    return TTSAudio(pad_to_frames(pcm, RATE, 25), RATE, "espeak")


def _stream(
    avatar, handle, audio: TTSAudio, *, chunk: int = CHUNK, pix_fmt: str = "rgb24"
) -> list[np.ndarray]:
    async def collect():
        frames = wav2lip_frames(
            avatar, handle, audio, FIRST, len(audio.pcm), source="s", name="astro",
            chunk_frames=chunk, in_flight=IN_FLIGHT, pix_fmt=pix_fmt,
        )  # fmt: skip
        return [c async for c in frames]

    return asyncio.run(collect())


# -- the weights, from masks and synthetic audio (no model) --------------------


def test_ramps_fade_over_blend_frames_on_both_sides_of_speech():
    silent = np.array([c == "." for c in "##" + "." * 9 + "##"])
    w = ramp_weights(silent, 3, ramp_at_edges=True)
    assert w.tolist() == [1, 1, 0.75, 0.5, 0.25, 0, 0, 0, 0.25, 0.5, 0.75, 1, 1]
    assert ramp_weights(silent, 0, ramp_at_edges=True).tolist() == [1, 1] + [0] * 9 + [1, 1]


def test_short_pauses_save_nothing_and_edges_count_as_speech_unless_told():
    short = np.array([False] + [True] * 6 + [False])  # 6 < 2 * 3 + 1: every frame blended
    assert _marks(ramp_weights(short, 3, ramp_at_edges=True)) == "#~~~~~~#"
    edges = np.array([True] * 6 + [False] + [True] * 6)
    assert _marks(ramp_weights(edges, 2, ramp_at_edges=True)) == "~~..~~#~~..~~"
    assert _marks(ramp_weights(edges, 2, ramp_at_edges=False)) == "....~~#~~...."


def test_a_sentence_without_speech_is_all_pack_frames():
    for edges in (True, False):
        assert not ramp_weights(np.ones(30, bool), 3, ramp_at_edges=edges).any()
    assert ramp_weights(np.zeros(0, bool), 3, ramp_at_edges=True).shape == (0,)


def test_a_frame_is_silent_only_when_its_whole_window_and_the_hangover_are_quiet():
    t = np.arange(RATE) / RATE  # 1 s: a tone for 0.4 s, then digital silence
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767 * (t < 0.4)).astype(np.int16)
    skip = SilenceSkip(hangover_frames=0)
    quiet = skip.silent(tone, RATE, 25)
    # Frame i's window reaches 25 ms back: frames starting at 0.44 s and later hear nothing.
    assert quiet.tolist() == [False] * 11 + [True] * 14
    assert SilenceSkip(hangover_frames=2).silent(tone, RATE, 25).tolist() == (
        [False] * 13 + [True] * 12
    )
    # The window also looks 0.21 s ahead: a tone starting at 0.6 s is heard from 0.4 s on.
    late = np.concatenate([_silence(0.6), tone[: round(0.2 * RATE)]])
    assert np.flatnonzero(~skip.silent(late, RATE, 20))[0] == 10
    levels = column_levels_db(tone, RATE, 81)
    assert levels[10] == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.1)
    assert levels[-1] < -150  # digital silence


def test_the_threshold_is_dbfs_and_the_weights_are_deterministic():
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(RATE) * 32768 * 10 ** (-55 / 20)).astype(np.int16)  # -55 dBFS
    assert SilenceSkip(threshold_db=-45.0).silent(hiss, RATE, 25).all()
    assert not SilenceSkip(threshold_db=-60.0).silent(hiss, RATE, 25).any()
    w = SilenceSkip().weights(hiss, RATE, 25)
    assert np.array_equal(w, SilenceSkip().weights(hiss.copy(), RATE, 25))
    as_float = hiss.astype(np.float32) / 32768
    assert np.array_equal(w, SilenceSkip().weights(as_float, RATE, 25))


def test_blending_is_alpha_of_the_inferred_frame():
    inferred = np.full((3, 2, 2, 3), 200, np.uint8)
    original = np.full((3, 2, 2, 3), 100, np.uint8)
    out = blend_frames(inferred, original, np.array([0.0, 0.25, 1.0]))
    assert out[:, 0, 0, 0].tolist() == [100, 125, 200]


def test_settings_are_validated_and_none_turns_skipping_off():
    ls = LipSyncSettings()
    assert (ls.silence_db, ls.silence_blend_frames) == (-45.0, 3)
    assert silence_from_settings(ls) == SilenceSkip(threshold_db=-45.0, blend_frames=3)
    assert silence_from_settings(LipSyncSettings(silence_db=None)) is None
    assert LipSyncSettings(silence_db=False).silence_db is None  # not 0 dBFS: off
    for bad in ({"silence_db": 3}, {"silence_db": -500}, {"silence_db": True},
                {"silence_blend_frames": -1}, {"silence_blend_frames": 13}):  # fmt: skip
        with pytest.raises(ValidationError):
            LipSyncSettings(**bad)
    with pytest.raises(ValueError, match="blend_frames"):
        SilenceSkip(blend_frames=-1)


def test_the_server_builds_packs_with_the_configured_skipping(astro_pack):
    avatars, _ = astro_pack
    base = {"avatars_dir": str(avatars), "avatar": {"kind": "wav2lip", "name": "astro"}}
    catalog = AvatarCatalog(Settings.model_validate(base), packs=True)
    assert catalog.build("astro").silence == SilenceSkip(-45.0, 3)
    off = Settings.model_validate({**base, "lipsync": {"silence_db": None}})
    avatar = AvatarCatalog(off, packs=True).build("astro")
    assert avatar.silence is None
    assert avatar.lip_weights(_silence(1.0), RATE).tolist() == [1.0] * 25


# -- the frame stream, with the random-weight model ----------------------------


@pytest.fixture(scope="module")
def runner(random_wav2lip):
    return Wav2LipRunner(model_path=random_wav2lip, intra_op_threads=1)


@pytest.fixture(scope="module")
def speech() -> TTSAudio:
    """espeak-ng speaking two phrases, with silence before, between and after."""
    from actors.engines.tts.espeak import EspeakTTS

    tts = EspeakTTS(sample_rate=RATE)
    first = tts.synthesize_blocking("Hello there.").pcm
    second = tts.synthesize_blocking("Thank you.").pcm
    parts = [_silence(0.5), first, _silence(0.8), second, _silence(0.5)]
    return _audio(np.concatenate(parts))


@pytest.fixture(scope="module")
def full(astro_pack, runner, speech):
    """The sentence with every frame inferred (skipping off): chunks and the handle."""
    handle = FakeLipSyncHandle(runner)
    chunks = _stream(Wav2LipAvatar(astro_pack[1]), handle, speech)
    return chunks, handle


def test_without_skipping_every_frame_is_inferred(full, speech):
    chunks, handle = full
    n = len(speech.pcm) * 25 // RATE
    assert sum(len(c) for c in chunks) == n == handle.frames
    assert [len(c) for c in chunks] == [CHUNK] * (n // CHUNK) + [n % CHUNK] * (n % CHUNK > 0)


def test_silent_frames_skip_the_model_and_the_stream_keeps_its_shape(
    astro_pack, runner, speech, full
):
    full_chunks, _ = full
    avatar = Wav2LipAvatar(astro_pack[1], silence=SilenceSkip())
    handle = FakeLipSyncHandle(runner)
    chunks = _stream(avatar, handle, speech)
    w = avatar.lip_weights(speech.pcm, RATE)
    marks = _marks(w)
    # Silence before, between and after the phrases, each fading over 3 frames into speech.
    assert re.fullmatch(r"~~~\.+~~~#+~~~\.+~~~#+~~~\.+~~~", marks), marks
    skipped, speaking = np.flatnonzero(w == 0), np.flatnonzero(w == 1)
    edges = np.flatnonzero((w > 0) & (w < 1))
    assert len(skipped) >= 20 and len(speaking) >= 30 and len(edges) == 6 * 3

    assert [len(c) for c in chunks] == [len(c) for c in full_chunks]  # same chunks, same order
    assert handle.frames == len(w) - len(skipped)  # silent frames never reach the model
    assert max(handle.requests) <= CHUNK and len(handle.requests) < len(full_chunks)
    assert handle.most_outstanding == IN_FLIGHT == full[1].most_outstanding  # requests, as today
    frames, reference = np.concatenate(chunks), np.concatenate(full_chunks)
    pack = avatar.idle(len(w), first_frame=FIRST)
    assert np.array_equal(frames[skipped], pack[skipped])  # the pack's own frames
    assert np.array_equal(frames[speaking], reference[speaking])  # exactly full inference
    # Blend-edge frames: alpha of the inferred frame over the pack frame, so in between.
    blended = blend_frames(reference[edges], pack[edges], w[edges])
    assert np.array_equal(frames[edges], blended)
    low = np.minimum(reference[edges], pack[edges])
    high = np.maximum(reference[edges], pack[edges])
    assert np.all((low <= frames[edges]) & (frames[edges] <= high))
    for k in edges:  # and really different from both where they differ
        assert not np.array_equal(frames[k], pack[k])
        assert not np.array_equal(frames[k], reference[k])

    # The local path (CLI, notebooks) makes the same frames, running only the needed ones.
    counted = FakeLipSyncHandle(runner)
    local = Wav2LipAvatar(astro_pack[1], runner=_Counting(runner, counted), silence=SilenceSkip())
    assert np.array_equal(local.talking(speech.pcm, RATE, first_frame=FIRST), frames)
    assert counted.frames == handle.frames


def test_frames_leave_in_i420_when_asked(astro_pack, runner, speech):
    """What a session asks for: the same chunks, each the conversion of the RGB one, pack-only
    chunks (no request) as well as inferred ones."""
    avatar = Wav2LipAvatar(astro_pack[1], silence=SilenceSkip())
    handle = FakeLipSyncHandle(runner)
    rgb = _stream(avatar, FakeLipSyncHandle(runner), speech)
    yuv = _stream(avatar, handle, speech, pix_fmt="yuv420p")
    assert len(handle.requests) < len(yuv)  # some chunks were the pack's frames only
    assert [len(c) for c in yuv] == [len(c) for c in rgb]
    for a, b in zip(rgb, yuv, strict=True):
        assert np.array_equal(rgb_to_yuv420p(a), b)


class _Counting:
    """A runner that counts the frames it runs into ``handle.requests``."""

    def __init__(self, runner, handle) -> None:
        self.runner, self.handle = runner, handle

    def infer(self, mel, faces, window=None):
        self.handle.requests.append(len(mel))
        return self.runner.infer(mel, faces, window=window)


def test_an_all_silent_sentence_sends_nothing(astro_pack, runner):
    avatar = Wav2LipAvatar(astro_pack[1], silence=SilenceSkip())
    rng = np.random.default_rng(1)
    for pcm in (_silence(1.3), (rng.standard_normal(RATE) * 30).astype(np.int16)):  # -61 dBFS
        handle = FakeLipSyncHandle(runner)
        audio = _audio(pcm)
        chunks = _stream(avatar, handle, audio)
        n = len(audio.pcm) * 25 // RATE
        assert handle.requests == []
        assert [len(c) for c in chunks] == [CHUNK] * (n // CHUNK) + [n % CHUNK] * (n % CHUNK > 0)
        assert np.array_equal(np.concatenate(chunks), avatar.idle(n, first_frame=FIRST))


def test_leaving_early_cancels_the_requests_in_flight(astro_pack, runner, speech):
    avatar = Wav2LipAvatar(astro_pack[1], silence=SilenceSkip())
    handle = FakeLipSyncHandle(runner)

    async def first_chunk():
        frames = wav2lip_frames(
            avatar, handle, speech, FIRST, len(speech.pcm), source="s", name="astro",
            chunk_frames=CHUNK, in_flight=IN_FLIGHT,
        )  # fmt: skip
        chunk = await anext(frames)
        await frames.aclose()
        return chunk

    chunk = asyncio.run(first_chunk())
    assert len(chunk) == CHUNK
    # The first chunk left while later ones were in flight; far fewer than all were inferred.
    w = avatar.lip_weights(speech.pcm, RATE)
    assert handle.frames < int((w > 0).sum())
