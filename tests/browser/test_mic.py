"""Voice input in the web client: headless Chromium with a fake microphone (a looping WAV).

The server's ASR is scripted (tests/serve_fixtures.py): every utterance it gets is
transcribed as ``MIC_QUESTION``; its VAD is the real Silero model, so utterances are found
only in audio the page really streamed.
"""

from __future__ import annotations

import json
import math
import wave

import numpy as np
import pytest

from tests.browser.conftest import MIC_QUESTION
from tests.browser.waits import REPLY_TIMEOUT_MS, edit_session_event, wait_talking_video_plays
from tests.fakes.speech import trim_silence

pytestmark = pytest.mark.browser

LONG_QUESTION = " ".join(
    f"This is sentence number {n} of a long question, so that the echo reply takes a while."
    for n in range(1, 9)
)
MESSAGE_BYTES = 1280  # 40 ms of PCM16 at 16 kHz
FRAME_S = 0.02  # the worklet's frames; window.avatarChat.mic.frames counts them
PRE_ROLL_FRAMES = 10  # kept before a push-to-talk press and sent with it (mic-stream.js)
# Silence sent at the release to end the utterance: (min_silence_ms 500 + 300 ms) of 40 ms
# messages (mic-stream.js).
TAIL_MESSAGES = math.ceil((500 + 300) / 40)

# Stand-ins for a browser that refuses the microphone, or has none.
REJECT_GET_USER_MEDIA = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException('refused by the test', ERROR_NAME));
"""


def _voice_unavailable(reason: str) -> str:
    """A server whose ASR model could not be loaded, for this ``reason``."""
    statement = f"event.voice_input = {{ available: false, reason: {json.dumps(reason)} }}"
    return edit_session_event("true", statement)


# What an ASR pool that failed to load may give as its reason: an exception's text.
RAW_REASON = (
    "OSError: [Errno 2] No such file or directory: '/root/.cache/huggingface/hub/"
    "models--Systran--faster-whisper-small/snapshots/0123456789abcdef/model.bin'\n"
    'Traceback (most recent call last):\n  File "/app/actors/asr.py", line 88, in load\n'
)

# One second of a sine through the worklet in an OfflineAudioContext: its 16 kHz PCM16.
RESAMPLE_SINE = """
async ([rate, freq]) => {
  const ctx = new OfflineAudioContext(1, rate, rate);
  await ctx.audioWorklet.addModule('static/mic-worklet.js');
  const node = new AudioWorkletNode(ctx, 'pcm16-downsampler', {
    channelCount: 1, channelCountMode: 'explicit',
    processorOptions: { targetRate: 16000, frameSamples: 320 },
  });
  const frames = [];
  node.port.onmessage = (m) => frames.push(m.data);
  const osc = new OscillatorNode(ctx, { frequency: freq });
  osc.connect(new GainNode(ctx, { gain: 0.5 })).connect(node);
  node.connect(ctx.destination);
  osc.start();
  await ctx.startRendering();
  // The port's messages may still be on their way: wait for (at least) the samples the test
  // requires, rather than for a fixed time. The deadline only ends a broken run.
  const samples = () => frames.reduce((n, f) => n + f.pcm.byteLength / 2, 0);
  const deadline = performance.now() + 30000;
  while (samples() < 16000 - 640 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    sizes: frames.map((f) => f.pcm.byteLength),
    pcm: frames.flatMap((f) => Array.from(new Int16Array(f.pcm))),
  };
}
"""


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _wait_voice_ready(page, timeout_s: float = 90.0) -> None:
    """Connected, with voice input available: a session that connected while the ASR model
    was loading gets a ``voice_input`` event when it is ready."""
    page.wait_for_function(
        """() => {
            const chat = window.avatarChat;
            return Boolean(chat && chat.connected)
                && (chat.mic.available || !chat.mic.reason.includes('loading'));
        }""",
        timeout=timeout_s * 1000,
    )
    mic = page.evaluate("window.avatarChat.mic")
    assert mic["available"], f"voice input unavailable: {mic['reason']}"
    assert page.is_enabled("#mic")


def _wav_s(wav_path) -> float:
    """Length of the fake microphone's file (it loops)."""
    with wave.open(str(wav_path)) as wav:
        return wav.getnframes() / wav.getframerate()


def _spoken_s(wav_path) -> float:
    """Length of the speech in the fake microphone's file."""
    with wave.open(str(wav_path)) as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    return len(trim_silence(pcm, rate)) / rate


def _mic(page) -> dict:
    return page.evaluate("window.avatarChat.mic")


def _wait_reply_text(page, question: str) -> dict:
    page.wait_for_function(
        "(q) => window.avatarChat.turns.some((t) => t.replyText.includes('You said: ' + q))",
        arg=question,
        timeout=REPLY_TIMEOUT_MS,
    )
    return page.evaluate("window.avatarChat.turns")[-1]


@pytest.mark.parametrize("rate", [48000, 44100])
def test_worklet_resamples_to_16k_without_aliasing(page, rate):
    def tone(freq: float) -> np.ndarray:
        out = page.evaluate(RESAMPLE_SINE, [rate, freq])
        assert set(out["sizes"]) == {640}, "20 ms frames of PCM16"
        pcm = np.array(out["pcm"], np.float64) / 32768
        assert abs(len(pcm) - 16000) <= 640, len(pcm)
        return pcm[800:]  # past the filter's start-up from silence

    def amplitude(pcm: np.ndarray) -> float:
        return float(np.sqrt(2 * np.mean(pcm**2)))

    speech = tone(1000.0)
    assert amplitude(speech) == pytest.approx(0.5, rel=0.02)
    spectrum = np.abs(np.fft.rfft(speech * np.hanning(len(speech))))
    assert np.argmax(spectrum) * 16000 / len(speech) == pytest.approx(1000, abs=5)
    assert amplitude(tone(6000.0)) == pytest.approx(0.5, rel=0.02), "passband up to 6 kHz"
    # Above 8 kHz nothing may fold back into the band: plain decimation would turn a
    # 12 kHz tone into a 4 kHz one at full strength (and 9 kHz into 7 kHz).
    for freq in (9000.0, 12000.0, 20000.0):
        assert amplitude(tone(freq)) < 0.5 * 10 ** (-60 / 20), f"{freq} Hz aliased"


def test_hands_free_speech_becomes_a_spoken_turn_with_a_reply(mic_page, mic_wav, artifacts_dir):
    page = mic_page
    _wait_voice_ready(page)
    assert _mic(page)["state"] == "off" and _mic(page)["mode"] == "hands-free"
    page.click("#mic")
    page.wait_for_function("window.avatarChat.mic.state === 'on'", timeout=30_000)
    assert page.get_attribute("#mic", "aria-pressed") == "true"
    assert _mic(page)["inputRate"] > 0
    # The level meter follows the voice in the file (silence in it reads as ~0).
    page.wait_for_function(
        "parseFloat(document.getElementById('mic-level').style.getPropertyValue('--level')) > 0.3",
        timeout=30_000,
        polling=20,
    )
    # Off at the end of the utterance, before the file loops (it has 4 s of silence until its
    # question comes again): a second question would barge in on the reply. Waiting for the
    # transcript instead raced that loop whenever the machine was slow.
    page.wait_for_function("window.avatarChat.speechEnds > 0", timeout=60_000, polling=20)
    page.click("#mic")
    mic = _mic(page)
    page.wait_for_function("window.avatarChat.transcripts.length > 0", timeout=60_000)
    page.wait_for_function(
        "document.querySelector('#transcript .msg.user.spoken') !== null", timeout=10_000
    )
    page.screenshot(path=str(artifacts_dir / "browser_mic.png"))
    assert mic["state"] == "off" and mic["peakLevel"] > 0.3
    # 40 ms messages; the last one before "off" may be a 20 ms one.
    assert mic["sent"] > 0 and mic["sentBytes"] % (MESSAGE_BYTES // 2) == 0
    assert (mic["sent"] - 1) * MESSAGE_BYTES < mic["sentBytes"] <= mic["sent"] * MESSAGE_BYTES
    assert page.evaluate("window.avatarChat.speechStarts") == 1
    assert page.evaluate("window.avatarChat.speechEnds") == 1
    [heard] = page.evaluate("window.avatarChat.transcripts")[:1]
    assert heard["text"] == MIC_QUESTION
    # Stream times: the utterance spans the question in the file (the stream starts when
    # the page's capture does, somewhere in the file's leading silence).
    assert 0 <= heard["startS"] < heard["endS"], heard
    assert heard["endS"] - heard["startS"] == pytest.approx(_spoken_s(mic_wav), abs=0.4), heard

    # The transcript starts a turn like a typed text; its reply plays.
    wait_talking_video_plays(page)
    page.wait_for_function(
        "window.avatarChat.status === 'listening'", timeout=REPLY_TIMEOUT_MS, polling=50
    )
    turn = page.evaluate("window.avatarChat.turns")[0]
    assert turn["userText"] == MIC_QUESTION
    assert turn["outcome"] == "ended" and turn["decodedFrames"] > 0
    assert f"You said: {MIC_QUESTION}" in _collapse(turn["replyText"])
    spoken = page.inner_text("#transcript .msg.user.spoken")
    assert MIC_QUESTION in spoken and "spoken" in spoken
    statuses = [s["status"] for s in page.evaluate("window.avatarChat.statusLog")]
    assert "hearing" in statuses, "speech_started shows as listening…"
    assert "transcribing" in statuses, "speech_ended shows as transcribing…"
    assert statuses.index("hearing") < statuses.index("transcribing") < statuses.index("speaking")
    assert page.errors == []


def test_push_to_talk_streams_only_while_held(mic_page, mic_wav):
    page = mic_page
    _wait_voice_ready(page)
    page.check("input[name='mic-mode'][value='push-to-talk']")
    assert page.is_visible("#talk")
    page.click("#mic")
    page.wait_for_function("window.avatarChat.mic.state === 'on'", timeout=30_000)
    # The microphone hears the question (the meter moves) but nothing goes to the server.
    page.wait_for_function("window.avatarChat.mic.peakLevel > 0.3", timeout=30_000)
    page.wait_for_function("window.avatarChat.mic.frames > 150", timeout=30_000)  # 3 s
    assert page.evaluate("window.avatarChat.audioMessagesSent") == 0
    assert page.evaluate("window.avatarChat.speechStarts") == 0

    # Held for longer than the file's loop, so one whole question goes out. Durations are
    # counted in audio the page captured (its frames), not in wall time, which a slow machine
    # stretches or a busy one starves.
    loop_frames = math.ceil(_wav_s(mic_wav) / FRAME_S) + 25
    page.hover("#talk")
    before = _mic(page)["frames"]
    page.mouse.down()
    page.wait_for_function("window.avatarChat.mic.held", timeout=5_000)
    held_from = _mic(page)["frames"]  # every frame from here on is heard while held
    page.wait_for_function(
        "(n) => window.avatarChat.mic.frames >= n", arg=held_from + loop_frames, timeout=60_000
    )
    page.mouse.up()
    released = _mic(page)
    assert not released["held"]
    sent = released["sent"]
    # One 40 ms message per two frames while held, plus the pre-roll and the closing silence.
    held_at_most = released["frames"] - before
    assert loop_frames // 2 <= sent <= (PRE_ROLL_FRAMES + held_at_most) // 2 + 1 + TAIL_MESSAGES
    # Another second of audio heard after the release: none of it was sent.
    page.wait_for_function(
        "(n) => window.avatarChat.mic.frames >= n", arg=released["frames"] + 50, timeout=30_000
    )
    after = _mic(page)
    assert after["sent"] == sent, "streaming stopped at the release"
    assert (sent - 1) * MESSAGE_BYTES < after["sentBytes"] <= sent * MESSAGE_BYTES
    # The silence sent at the release ends the utterance: no further audio is needed.
    page.wait_for_function("window.avatarChat.transcripts.length > 0", timeout=60_000)
    assert page.evaluate("window.avatarChat.transcripts")[0]["text"] == MIC_QUESTION

    # The space bar works the same, outside the text box.
    page.click("#transcript-title")
    page.keyboard.down("Space")
    page.wait_for_function(
        "(n) => window.avatarChat.mic.held && window.avatarChat.audioMessagesSent > n + 5",
        arg=sent,
        timeout=10_000,
    )
    page.keyboard.up("Space")
    assert not _mic(page)["held"]
    assert page.errors == []


@pytest.mark.parametrize(
    ("error", "says"),
    [("NotAllowedError", "Microphone access was refused"), ("NotFoundError", "No microphone")],
)
def test_refused_or_missing_microphone_is_explained_and_text_works(page, error, says):
    page.add_init_script(REJECT_GET_USER_MEDIA.replace("ERROR_NAME", json.dumps(error)))
    page.reload()
    _wait_voice_ready(page)
    page.click("#mic")
    page.wait_for_function("window.avatarChat.mic.state === 'error'", timeout=10_000)
    message = page.locator("#mic-message")
    assert message.is_visible() and says in message.inner_text()
    assert message.get_attribute("role") == "alert"
    assert page.get_attribute("#mic", "aria-pressed") == "false"
    assert page.evaluate("window.avatarChat.audioMessagesSent") == 0

    page.fill("#message", "Can you hear me?")
    page.click("#send")
    turn = _wait_reply_text(page, "Can you hear me?")
    assert turn["userText"] == "Can you hear me?"
    assert page.errors == []


def test_voice_unavailable_disables_the_mic_with_the_reason(page):
    page.add_init_script(_voice_unavailable("no speech model (test)"))
    page.reload()
    page.wait_for_function("window.avatarChat && window.avatarChat.connected", timeout=60_000)
    assert page.is_disabled("#mic")
    assert "no speech model (test)" in page.get_attribute("#mic", "title")
    assert "no speech model (test)" in page.get_attribute("#mic-wrap", "title")
    assert "Voice input is unavailable" in page.inner_text("#mic-message")
    assert page.is_disabled("input[name='mic-mode'][value='push-to-talk']")
    page.keyboard.press("Space")  # push-to-talk keys do nothing either
    assert _mic(page)["state"] == "unavailable"

    page.fill("#message", "Typing still works.")
    page.press("#message", "Enter")
    _wait_reply_text(page, "Typing still works.")
    assert page.errors == []


def test_a_raw_exception_as_the_reason_stays_one_plain_line(page):
    page.add_init_script(_voice_unavailable(RAW_REASON))
    page.reload()
    page.wait_for_function("window.avatarChat && window.avatarChat.connected", timeout=60_000)
    message = page.locator("#mic-message")
    text = message.inner_text()
    assert "Voice input is unavailable" in text
    assert "Error" not in text and "Traceback" not in text and "/" not in text
    # One line: the readout below it stays where it was.
    box = page.evaluate(
        """() => {
            const el = document.getElementById('mic-message');
            return { height: el.getBoundingClientRect().height,
                     font: parseFloat(getComputedStyle(el).fontSize) };
        }"""
    )
    assert box["height"] < 2 * box["font"], box
    # The details are a hover away: the first line of the reason, never the traceback.
    title = page.get_attribute("#mic", "title")
    assert "No such file or directory" in title and "Traceback" not in title
    assert "Traceback" not in (message.get_attribute("title") or "")
    assert page.errors == []


def test_speaking_over_the_reply_barges_in_and_the_client_flushes_it(mic_page):
    page = mic_page
    _wait_voice_ready(page)
    page.fill("#message", LONG_QUESTION)
    page.click("#send")
    page.wait_for_function(
        "window.avatarChat.status === 'speaking'", timeout=REPLY_TIMEOUT_MS, polling=50
    )
    first = page.evaluate("window.avatarChat.turns")[0]["turnId"]
    page.click("#mic")  # the file's question comes within about a second
    page.wait_for_function(
        "(t) => window.avatarChat.interruptions.some((i) => i.turnId === t)",
        arg=first,
        timeout=30_000,
    )
    [cut] = [i for i in page.evaluate("window.avatarChat.interruptions") if i["turnId"] == first]
    assert cut["reason"] == "barge_in"
    turn = page.evaluate("window.avatarChat.turns")[0]
    assert turn["outcome"] == "interrupted"
    assert page.evaluate("window.avatarChat.currentTurnId") != first
    assert "interrupted (you spoke)" in page.inner_text("#transcript")
    # The words that cut in become the next turn.
    page.wait_for_function(
        "(q) => window.avatarChat.turns.some((t) => t.userText === q)",
        arg=MIC_QUESTION,
        timeout=REPLY_TIMEOUT_MS,
    )
    page.click("#mic")
    assert page.errors == []
