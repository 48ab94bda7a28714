"""The ``avatar-chat say`` / ``ask`` commands end to end, as a user runs them (subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from actors.engines.avatar.sprite import SpriteAvatar
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.integration

ACCEPTANCE_TEXT = "Hello there. The weather is 21.5 degrees today, isn't it? Let's go."


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "AVATAR_CHAT_TTS_ENGINE": "espeak", **(env or {})}
    full_env.pop("OPENAI_API_KEY", None)
    full_env.pop("OPENAI_BASE_URL", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "actors.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=full_env,
    )


def decode(path: Path):
    """Decoded RGB frames, mono float audio, stream descriptions."""
    with av.open(str(path)) as c:
        streams = [(s.type, s.codec_context.name) for s in c.streams]
        fps = c.streams.video[0].average_rate
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return frames, audio, rate, streams, fps


@pytest.fixture(scope="module")
def acceptance_mp4(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("say") / "reply.mp4"
    result = run_cli("say", ACCEPTANCE_TEXT, "-o", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "s of media" in result.stdout
    return out


def test_say_writes_one_h264_and_one_aac_stream_in_sync(acceptance_mp4):
    frames, audio, rate, streams, fps = decode(acceptance_mp4)
    assert sorted(streams) == [("audio", "aac"), ("video", "h264")]
    assert fps == 25
    video_s = len(frames) / 25
    audio_s = len(audio) / rate
    assert video_s > 3.0  # three sentences of speech
    assert abs(video_s - audio_s) <= 0.040


def test_mouth_motion_follows_the_audio_envelope(acceptance_mp4):
    """Pearson r between the mouth region's mean absolute frame-to-frame change and the
    absolute frame-to-frame change of the audio envelope (RMS dB per video frame)."""
    frames, audio, rate, _, _ = decode(acceptance_mp4)
    x0, y0, x1, y1 = SpriteAvatar(size=frames.shape[1]).mouth_box
    mouth = frames[:, y0:y1, x0:x1].astype(np.float32)
    mouth_change = np.abs(np.diff(mouth, axis=0)).mean(axis=(1, 2, 3))
    spf = rate // 25
    n = min(len(frames), len(audio) // spf)
    rms = np.sqrt((audio[: n * spf].reshape(n, spf).astype(np.float64) ** 2).mean(axis=1))
    envelope = 20 * np.log10(np.maximum(rms, 1e-4))
    env_change = np.abs(np.diff(envelope))
    k = min(len(mouth_change), len(env_change))
    r = np.corrcoef(mouth_change[:k], env_change[:k])[0, 1]
    assert r >= 0.6, f"Pearson r = {r:.2f}"


def test_ask_uses_the_offline_echo(tmp_path):
    out = tmp_path / "ask.mp4"
    result = run_cli("ask", "What is two plus two?", "-o", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000


def test_ask_streams_from_an_openai_compatible_server(tmp_path):
    reply = "Two plus two is four. That is simple arithmetic."
    with FakeOpenAIServer(reply, tokens_per_s=200) as server:
        out = tmp_path / "ask.mp4"
        result = run_cli(
            "ask",
            "What is two plus two?",
            "-o",
            str(out),
            "--no-progress",
            env={"OPENAI_BASE_URL": server.base_url},
        )
        assert result.returncode == 0, result.stderr
        assert server.received_messages[-1][-1]["content"] == "What is two plus two?"
    frames, *_ = decode(out)
    assert len(frames) > 25


def test_a_failed_render_keeps_the_old_file_and_leaves_no_partial_one(tmp_path):
    out = tmp_path / "ask.mp4"
    out.write_bytes(b"an earlier render")
    with FakeOpenAIServer("Never sent.", failure="http_500") as server:
        result = run_cli(
            "ask", "Hi?", "-o", str(out), "--no-progress",
            env={"OPENAI_BASE_URL": server.base_url},
        )  # fmt: skip
    assert result.returncode == 1
    assert "no media was produced" in result.stderr
    assert out.read_bytes() == b"an earlier render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ask.mp4"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("\x07\x1b\x08", "empty"), ("x" * 5000, "limit")],
)
def test_bad_text_exits_2_with_a_clear_message(tmp_path, text, message):
    result = run_cli("say", text, "-o", str(tmp_path / "x.mp4"))
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("where", ["missing_dir", "directory", "read_only"])
def test_unwritable_output_exits_2(tmp_path, where):
    if where == "missing_dir":
        out = tmp_path / "nope" / "x.mp4"
    elif where == "directory":
        out = tmp_path
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        out = ro / "x.mp4"
        (ro / "x.mp4").write_bytes(b"")
        (ro / "x.mp4").chmod(0o444)
        if os.access(out, os.W_OK):  # root ignores permission bits: use /proc instead
            out = Path("/proc/version")
    result = run_cli("say", "Hello.", "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert "cannot write output" in result.stderr


def test_emoji_control_characters_and_rtl_text_do_not_crash(tmp_path):
    text = "Hi 👋🏽 there!\u0007 مرحبا بالعالم. \u202eReversed\u202c text. 你好。"
    out = tmp_path / "mixed.mp4"
    result = run_cli("say", text, "-o", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    frames, *_ = decode(out)
    assert len(frames) > 0


def test_invalid_settings_name_the_field(tmp_path):
    result = run_cli("say", "Hello.", "-o", str(tmp_path / "x.mp4"), "--size", "100")
    assert result.returncode == 2
    assert "avatar.size" in result.stderr
