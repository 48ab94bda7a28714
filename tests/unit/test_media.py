"""FragmentedMP4Encoder: fragmented MP4 that PyAV decodes back to the frames and sound given."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from actors.core.messages import MediaChunk, TTSAudio
from actors.media.aac import AAC_PRIMING_SAMPLES
from actors.media.encoder import FragmentedMP4Encoder
from actors.media.mp4boxes import aac_end
from actors.media.mp4mux import write_mp4

pytestmark = pytest.mark.unit

SIZE, FPS, RATE = 128, 25, 24000
SPF = RATE // FPS
TONE_HZ = 440.0
CALL_FRAMES = (20, 33, 7, 15)  # 75 frames = 3 s, in calls of different lengths


def gradient_frames(first: int, n: int) -> np.ndarray:
    """A horizontal gradient that slides 3 px per frame, with a vertical ramp in green."""
    x = np.arange(SIZE)[None, None, :] + 3 * (first + np.arange(n))[:, None, None]
    frames = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    frames[..., 0] = (x * 2) % 256
    frames[..., 1] = np.arange(SIZE)[None, :, None] * 2
    frames[..., 2] = 96
    return frames


def sine(first_sample: int, n: int) -> np.ndarray:
    t = (first_sample + np.arange(n)) / RATE
    return (0.4 * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)


def top_boxes(data: bytes) -> list[str]:
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        assert size >= 8, f"bad box size {size} at {pos}"
        kinds.append(kind.decode("latin-1"))
        pos += size
    assert pos == len(data), "trailing bytes after the last box"
    return kinds


def decode(path: Path) -> tuple[list[av.VideoFrame], np.ndarray, int]:
    """Decoded video frames, decoded mono samples and the first audio frame's pts."""
    with av.open(str(path)) as container:
        video = [f for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = list(container.decode(audio=0))
    samples = np.concatenate([f.to_ndarray()[0] for f in audio])
    return video, samples, audio[0].pts


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> dict:
    encoder = FragmentedMP4Encoder(width=SIZE, height=SIZE, fps=FPS, sample_rate=RATE)
    init = encoder.start()
    per_call, done = [], 0
    for n in CALL_FRAMES:
        per_call.append(encoder.encode(gradient_frames(done, n), sine(done * SPF, n * SPF)))
        done += n
    tail = encoder.close()
    chunks = [init, *[c for call in per_call for c in call], *tail]
    path = write_mp4(tmp_path_factory.mktemp("media") / "stream.mp4", chunks)
    return {"init": init, "per_call": per_call, "tail": tail, "chunks": chunks, "path": path}


def test_init_segment_is_ftyp_then_moov(stream):
    init = stream["init"]
    assert (init.kind, init.seq) == ("init", 0)
    assert top_boxes(init.data) == ["ftyp", "moov"]
    assert b"mvex" in init.data  # movie extends: fragments follow
    assert b"elst" in init.data  # the AAC priming edit list


def test_mime_type_names_the_codecs():
    encoder = FragmentedMP4Encoder(width=SIZE, height=SIZE)
    with pytest.raises(RuntimeError):
        _ = encoder.mime_type
    encoder.start()
    # ultrafast turns off CABAC and B-frames: Constrained Baseline (0x42, constraint 0xc0).
    assert re.fullmatch(r'video/mp4; codecs="avc1\.42c0[0-9a-f]{2},mp4a\.40\.2"', encoder.mime_type)
    encoder.close()


def test_every_call_yields_its_own_fragment(stream, tmp_path):
    seqs = [c.seq for c in stream["chunks"][1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    done = 0
    prefix = [stream["init"]]
    for n, chunks in zip(CALL_FRAMES, stream["per_call"], strict=True):
        assert len(chunks) >= 1
        for chunk in chunks:
            assert chunk.kind == "fragment"
            assert top_boxes(chunk.data)[:2] == ["moof", "mdat"]
            assert set(top_boxes(chunk.data)) == {"moof", "mdat"}
        assert chunks[0].start_s == pytest.approx(done / FPS)
        assert sum(c.duration_s for c in chunks) == pytest.approx(n / FPS)
        done += n
        prefix += chunks
        # Latency: what this call returned already holds all frames given so far.
        video, _, _ = decode(write_mp4(tmp_path / f"prefix{done}.mp4", prefix))
        assert len(video) == done
    assert all(c.kind == "fragment" for c in stream["tail"])


def test_file_has_one_h264_and_one_aac_stream(stream):
    with av.open(str(stream["path"])) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.average_rate == FPS
        assert (video.codec_context.width, video.codec_context.height) == (SIZE, SIZE)
        assert audio.codec_context.name == "aac"
        assert audio.codec_context.sample_rate == RATE
        assert audio.codec_context.layout.nb_channels == 1


def test_decoded_frames_match_input(stream):
    video, _, _ = decode(stream["path"])
    total = sum(CALL_FRAMES)
    assert len(video) == total
    assert [float(f.time) for f in video] == pytest.approx([k / FPS for k in range(total)])
    expected = gradient_frames(0, total)
    for k in (0, 19, 20, 40, 74):
        error = np.abs(video[k].to_ndarray(format="rgb24").astype(int) - expected[k]).mean()
        assert error < 8, f"frame {k} differs by {error:.1f} on average"


def test_each_fragment_starts_with_a_keyframe(stream):
    with av.open(str(stream["path"])) as container:
        keys = [p.is_keyframe for p in container.demux(video=0) if p.size]
    starts = np.cumsum((0, *CALL_FRAMES[:-1]))
    assert all(keys[i] for i in starts)


def test_audio_and_video_durations_agree(stream):
    video, samples, first_audio_pts = decode(stream["path"])
    video_s = len(video) / FPS
    # Decoded: the edit list drops the 1024 priming samples; only end padding remains.
    assert first_audio_pts == 0
    assert abs(len(samples) / RATE - video_s) <= 0.040
    # Container timestamps: both tracks end where the input ended.
    with av.open(str(stream["path"])) as container:
        # (Audio stream.duration is not used: FFmpeg counts the priming the edit list cuts.)
        v_stream = container.streams.video[0]
        assert float(v_stream.duration * v_stream.time_base) == pytest.approx(video_s)
        packets = [p for p in container.demux(audio=0) if p.size]
    assert packets[0].pts == -AAC_PRIMING_SAMPLES
    audio_end = float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base)
    assert abs(audio_end - video_s) <= 0.040


def test_decoded_audio_is_the_input_tone(stream):
    _, samples, _ = decode(stream["path"])
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    peak_hz = np.argmax(spectrum) * RATE / len(samples)
    assert abs(peak_hz - TONE_HZ) < 2.0
    assert np.abs(samples).max() > 0.3  # not attenuated to silence


def test_audio_onset_lines_up_with_the_flash_frame(tmp_path):
    """A tone burst and a white frame start together; decoded they must still coincide."""
    n, flash = 50, 27
    frames = np.zeros((n, SIZE, SIZE, 3), dtype=np.uint8)
    frames[flash:] = 255
    pcm = np.zeros(n * SPF, dtype=np.int16)
    pcm[flash * SPF :] = sine(0, (n - flash) * SPF)
    encoder = FragmentedMP4Encoder(width=SIZE, height=SIZE)
    chunks = [encoder.start(), *encoder.encode(frames[:30], pcm[: 30 * SPF])]
    chunks += [*encoder.encode(frames[30:], pcm[30 * SPF :]), *encoder.close()]
    video, samples, _ = decode(write_mp4(tmp_path / "sync.mp4", chunks))
    flash_s = next(float(f.time) for f in video if f.to_ndarray(format="gray").mean() > 128)
    onset_s = np.argmax(np.abs(samples) > 0.1) / RATE  # decoded as float
    assert flash_s == pytest.approx(flash / FPS)
    assert abs(onset_s - flash_s) <= 0.010


def test_encode_tts_checks_the_rate():
    encoder = FragmentedMP4Encoder(width=SIZE, height=SIZE)
    encoder.start()
    audio = TTSAudio(pcm=sine(0, 2 * SPF), sample_rate=RATE)
    assert [c.kind for c in encoder.encode_tts(audio, gradient_frames(0, 2))] == ["fragment"]
    with pytest.raises(ValueError, match="Hz"):
        encoder.encode_tts(TTSAudio(pcm=audio.pcm, sample_rate=16000), gradient_frames(2, 2))
    encoder.close()


@pytest.fixture
def started() -> FragmentedMP4Encoder:
    encoder = FragmentedMP4Encoder(width=SIZE, height=SIZE)
    encoder.start()
    yield encoder
    encoder.close()


def test_mismatched_lengths_are_refused(started):
    with pytest.raises(ValueError, match="need 1920 samples"):
        started.encode(gradient_frames(0, 2), sine(0, 1900))


@pytest.mark.parametrize(
    ("frames", "pcm"),
    [
        (gradient_frames(0, 2).astype(np.float32), sine(0, 2 * SPF)),  # float frames
        (gradient_frames(0, 2)[:, :64], sine(0, 2 * SPF)),  # wrong height
        (gradient_frames(0, 2)[..., :1], sine(0, 2 * SPF)),  # one channel
        (gradient_frames(0, 2)[0], sine(0, SPF)),  # a single frame without N
        (gradient_frames(0, 2), sine(0, 2 * SPF).astype(np.float32)),  # float PCM
        (gradient_frames(0, 2), np.zeros((2 * SPF, 2), dtype=np.int16)),  # stereo PCM
    ],
)
def test_wrong_dtype_or_shape_is_refused(started, frames, pcm):
    with pytest.raises(ValueError):
        started.encode(frames, pcm)


def test_empty_call_yields_nothing(started):
    assert started.encode(np.zeros((0, SIZE, SIZE, 3), np.uint8), np.zeros(0, np.int16)) == []


@pytest.mark.parametrize(
    "options",
    [
        {"width": 127, "height": SIZE},
        {"width": SIZE, "height": 0},
        {"width": SIZE, "height": SIZE, "fps": 7},  # 24000 Hz is not a multiple of 7
        {"width": SIZE, "height": SIZE, "sample_rate": 22000},
        {"width": SIZE, "height": SIZE, "preset": "warp"},
        {"width": SIZE, "height": SIZE, "crf": 60},
        {"width": SIZE, "height": SIZE, "audio_bitrate": 0},
    ],
)
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError):
        FragmentedMP4Encoder(**options)


def test_call_order_is_enforced():
    encoder = FragmentedMP4Encoder(width=SIZE, height=SIZE)
    with pytest.raises(RuntimeError):
        encoder.encode(gradient_frames(0, 1), sine(0, SPF))
    encoder.start()
    with pytest.raises(RuntimeError):
        encoder.start()
    encoder.close()
    assert encoder.close() == []
    with pytest.raises(RuntimeError):
        encoder.encode(gradient_frames(0, 1), sine(0, SPF))


def test_write_mp4_needs_the_init_segment_first(tmp_path):
    fragment = MediaChunk(b"\x00\x00\x00\x08moof", "fragment", 1)
    with pytest.raises(ValueError, match="init"):
        write_mp4(tmp_path / "x.mp4", [fragment])


def test_upcoming_audio_makes_each_fragment_cover_its_video(tmp_path):
    """With the following audio given, no fragment's audio ends before its video (a player
    would stall there), and the stream still decodes to exactly the input sound."""

    n_frames, sizes = 60, (10, 15, 25, 10)
    frames, pcm = gradient_frames(0, n_frames), sine(0, n_frames * SPF)
    for upcoming in (False, True):
        encoder = FragmentedMP4Encoder(width=SIZE, height=SIZE, fps=FPS, sample_rate=RATE)
        chunks, done = [encoder.start()], 0
        for size in sizes:
            end = (done + size) * SPF
            ahead = pcm[end:] if upcoming else None
            chunks += encoder.encode(
                frames[done : done + size], pcm[done * SPF : end], upcoming=ahead
            )
            done += size
        short = [
            (done_s, (aac_end(c.data) - AAC_PRIMING_SAMPLES) / RATE)
            for c, done_s in zip(chunks[1:], np.cumsum(sizes[:-1]) / FPS, strict=False)
        ]
        chunks += encoder.close()
        if upcoming:
            assert all(audio >= video for video, audio in short), short
        else:  # without it the AAC encoder's hold-back leaves each fragment short
            assert all(audio < video - 0.05 for video, audio in short), short
        _, samples, _ = decode(write_mp4(tmp_path / f"up{upcoming}.mp4", chunks))
        # Same sound either way (the edit list drops the priming): nothing taken ahead is
        # encoded twice or lost, and the tone stays in phase with the input.
        assert abs(len(samples) - len(pcm)) < 1024
        n = min(len(samples), len(pcm)) - 1024  # AAC end padding fades the tail
        assert np.corrcoef(samples[:n], pcm[:n] / 32768.0)[0, 1] > 0.98
