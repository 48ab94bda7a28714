"""The web client in headless Chromium against the real Serve app (echo LLM, espeak, sprite).

What a person would check by eye: the idle loop plays, a question gets a spoken,
captioned reply in the talking video, the status line follows the turn, and the
latency readout fills in; Stop cuts a reply back to idle and the next question works.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.waits import RECORD_TOASTS, REPLY_TIMEOUT_MS, wait_talking_video_plays

pytestmark = pytest.mark.browser

H264_AAC = 'video/mp4; codecs="avc1.42E01E, mp4a.40.2"'
LONG_QUESTION = " ".join(
    f"This is sentence number {n} of a long question, so that the echo reply takes a while."
    for n in range(1, 9)
)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _wait_idle_playing(page) -> None:
    start = page.evaluate("document.getElementById('idle-video').currentTime")
    page.wait_for_function(
        """(start) => {
            const v = document.getElementById('idle-video');
            return !v.paused && v.readyState >= 2 && v.currentTime !== start;
        }""",
        arg=start,
        timeout=30_000,
    )


def _ask(page, text: str, *, turns_before: int) -> None:
    page.fill("#message", text)
    page.click("#send")
    page.wait_for_function(
        "(n) => window.avatarChat.turns.length > n", arg=turns_before, timeout=REPLY_TIMEOUT_MS
    )


def _statuses(page) -> list[str]:
    return [s["status"] for s in page.evaluate("window.avatarChat.statusLog")]


def test_chromium_plays_h264_aac_through_mse(page):
    # The server streams H.264 + AAC fragmented MP4; a browser without it shows nothing.
    assert page.evaluate("(t) => MediaSource.isTypeSupported(t)", H264_AAC), (
        f"this Chromium cannot play {H264_AAC} through Media Source Extensions"
    )


def test_reply_plays_with_captions_status_and_latency(page, artifacts_dir):
    page.wait_for_function("window.avatarChat.status === 'listening'", timeout=60_000)
    assert page.evaluate("window.avatarChat.sessionId")
    _wait_idle_playing(page)
    assert page.is_visible("#llm-badge"), "the offline echo model must be labelled"
    voice = page.evaluate("window.avatarChat.mic")  # the mic follows the server's voice_input
    assert page.is_enabled("#mic") == voice["available"]
    assert page.get_attribute("#mic-wrap", "title")
    # The box takes no more than the server accepts (text.max_input_chars, 2000 by default).
    assert page.get_attribute("#message", "maxlength") == "2000"

    asked_at = page.evaluate("performance.now()")
    _ask(page, "What is Ray Serve?", turns_before=0)
    wait_talking_video_plays(page)
    # First audio shows while the reply plays, not only at its end.
    assert re.fullmatch(r"\d+ ms", page.inner_text("#lat-audio")), page.inner_text("#latency")
    page.wait_for_function(
        "document.getElementById('captions').textContent.trim().length > 0", timeout=30_000
    )
    caption = page.inner_text("#captions")
    assert page.is_enabled("#interrupt")
    page.screenshot(path=str(artifacts_dir / "browser_reply.png"))

    page.wait_for_function(
        "window.avatarChat.status === 'listening'", timeout=REPLY_TIMEOUT_MS, polling=50
    )
    [turn] = page.evaluate("window.avatarChat.turns")
    waited_ms = page.evaluate("performance.now()") - asked_at
    assert turn["outcome"] == "ended"
    reply = _collapse(turn["replyText"])
    assert "You said: What is Ray Serve?" in reply
    assert _collapse(caption) in reply
    assert turn["captionsShown"], "no caption was shown during playback"
    assert all(_collapse(c) in reply for c in turn["captionsShown"])
    assert turn["captionsShown"] == turn["captions"], "every sentence is captioned, in order"
    assert turn["decodedFrames"] > 0
    # Client-side latencies: from pressing send to the first audio / first rendered frame,
    # so within the time this test saw pass on the page's own clock (not a speed limit).
    assert 0 < turn["firstAudioMs"] <= waited_ms
    assert 0 < turn["firstFrameMs"] <= waited_ms
    assert turn["timings"]["total"] > 0 and turn["timings"]["first_media"] > 0

    statuses = _statuses(page)
    thinking = statuses.index("thinking")
    speaking = statuses.index("speaking", thinking)
    assert "listening" in statuses[speaking:]
    assert statuses[-1] == "listening"
    assert page.is_disabled("#interrupt")
    latency = page.inner_text("#latency")
    assert re.search(r"first audio:?\s*\d+ ms", latency), latency
    assert re.search(r"first frame:?\s*\d+ ms", latency), latency
    assert re.search(r"total \d+\.\d+ s", latency), latency
    transcript = _collapse(page.inner_text("#transcript"))
    assert "What is Ray Serve?" in transcript and "You said: What is Ray Serve?" in transcript
    # Back to idle: the talking video is hidden again and the idle loop still runs.
    assert not page.evaluate("document.getElementById('talk-video').classList.contains('visible')")
    _wait_idle_playing(page)
    assert page.errors == []


def test_interrupt_returns_to_idle_and_next_question_works(page, artifacts_dir):
    page.wait_for_function("window.avatarChat.status === 'listening'", timeout=60_000)
    _ask(page, LONG_QUESTION, turns_before=0)
    wait_talking_video_plays(page)
    page.click("#interrupt")
    # The client stops at once, without waiting for the server's confirmation.
    assert page.evaluate("window.avatarChat.status") == "listening"
    assert page.evaluate(
        """() => {
            const v = document.getElementById('talk-video');
            return !v.classList.contains('visible') && v.paused && !v.hasAttribute('src');
        }"""
    )
    assert page.inner_text("#captions") == ""
    [cut] = page.evaluate("window.avatarChat.turns")
    assert cut["outcome"] == "interrupted"
    # The transcript strikes through what was never said: the reply is its spoken start and
    # the struck rest (the long reply was cut in its first sentences).
    reply = page.locator(".msg.assistant .text").last
    unspoken = reply.locator(".unspoken")
    assert unspoken.count() == 1
    assert _collapse(unspoken.inner_text()) == _collapse(cut["unspoken"])
    assert cut["unspoken"] and len(cut["unspoken"]) < len(cut["replyText"])
    assert cut["replyText"].endswith(cut["unspoken"])
    assert reply.inner_text().startswith("(offline echo)")
    page.screenshot(path=str(artifacts_dir / "browser_interrupted.png"))
    _wait_idle_playing(page)
    # Late media of the cut turn must not bring the talking video back. The server confirms
    # the interrupt with `interrupted`, after which no media of that turn comes
    # (docs/protocol.md): once the page has it, all late media has been handled.
    page.wait_for_function(
        "(t) => window.avatarChat.interruptions.some((i) => i.turnId === t)",
        arg=cut["turnId"],
        timeout=30_000,
    )
    assert not page.evaluate("document.getElementById('talk-video').classList.contains('visible')")
    assert page.evaluate("window.avatarChat.currentTurnId") is None
    assert page.evaluate("window.avatarChat.status") == "listening"
    assert "interrupted" in page.inner_text("#transcript")

    _ask(page, "And now a short one.", turns_before=1)
    wait_talking_video_plays(page)
    page.wait_for_function(
        "window.avatarChat.status === 'listening'", timeout=REPLY_TIMEOUT_MS, polling=50
    )
    second = page.evaluate("window.avatarChat.turns")[-1]
    assert second["turnId"] != cut["turnId"]
    assert second["outcome"] == "ended"
    assert "You said: And now a short one." in second["replyText"]
    assert second["captionsShown"] and second["decodedFrames"] > 0
    assert page.errors == []


def test_reconnect_resumes_the_session_and_shows_its_history(page):
    page.wait_for_function("window.avatarChat.status === 'listening'", timeout=60_000)
    _ask(page, "Remember this line.", turns_before=0)
    page.wait_for_function(
        "window.avatarChat.turns[0].outcome !== null && window.avatarChat.status === 'listening'",
        timeout=REPLY_TIMEOUT_MS,
    )
    session_id = page.evaluate("window.avatarChat.sessionId")

    # The connection drops: the client reconnects by itself and resumes the same session.
    page.evaluate("window.__sockets.at(-1).close()")
    page.wait_for_function(
        "window.__sockets.length === 2 && window.avatarChat.status === 'listening'",
        timeout=30_000,
    )
    assert "offline" in _statuses(page)
    assert f"session={session_id}" in page.evaluate("window.__sockets[1].url")
    assert page.evaluate("window.avatarChat.sessionId") == session_id

    # A reload resumes from sessionStorage and shows the history from the server.
    page.reload()
    page.wait_for_function("window.avatarChat && window.avatarChat.connected", timeout=30_000)
    assert page.evaluate("window.avatarChat.sessionId") == session_id
    transcript = _collapse(page.inner_text("#transcript"))
    assert "Remember this line." in transcript
    assert "You said: Remember this line." in transcript

    # An unknown id: the server says session_expired, the client takes the new session.
    page.evaluate("sessionStorage.setItem('avatar-chat.session', 'no-such-session')")
    page.add_init_script(RECORD_TOASTS)  # the toast is brief by design: keep a log of them
    page.reload()
    page.wait_for_function("window.avatarChat && window.avatarChat.connected", timeout=30_000)
    page.wait_for_function("window.toastLog.some((t) => t.includes('expired'))", timeout=30_000)
    new_id = page.evaluate("window.avatarChat.sessionId")
    assert new_id not in (session_id, "no-such-session")
    assert page.evaluate("sessionStorage.getItem('avatar-chat.session')") == new_id
    assert page.errors == []


# Stands in for a browser that refuses sound until the user clicks: play() with sound on the
# talking video is rejected until the first pointer press.
REFUSE_SOUND_UNTIL_CLICK = """
(() => {
  let clicked = false;
  document.addEventListener('pointerdown', () => { clicked = true; }, true);
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    if (this.id === 'talk-video' && !this.muted && !clicked) {
      return Promise.reject(new DOMException('sound needs a gesture', 'NotAllowedError'));
    }
    return play.call(this);
  };
})();
"""


def test_blocked_sound_shows_a_hint_and_a_click_enables_it(page):
    page.add_init_script(REFUSE_SOUND_UNTIL_CLICK)
    page.reload()
    page.wait_for_function("window.avatarChat.status === 'listening'", timeout=60_000)
    page.fill("#message", LONG_QUESTION)
    page.press("#message", "Enter")  # Enter sends (a key press, not a click)
    wait_talking_video_plays(page)  # the face still moves, muted
    assert page.evaluate("document.getElementById('talk-video').muted")
    assert page.is_visible("#sound-hint")
    page.click("#sound-hint")
    page.wait_for_function(
        """() => {
            const v = document.getElementById('talk-video');
            return !v.muted && !v.paused;
        }""",
        timeout=10_000,
    )
    assert page.is_hidden("#sound-hint")
    page.click("#interrupt")
    assert page.errors == []
