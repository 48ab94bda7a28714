"""The page's session choices in headless Chromium against the real app (docs/protocol.md,
"Session choices"): a person picks the night sprite and Chinese in the page, asks, and sees
that avatar talk with Chinese captions; the choice outlives a reload and a new visit; a choice
the server refuses is said and undone.
"""

from __future__ import annotations

import json

import pytest

from tests.browser.waits import (
    RECORD_TOASTS,
    REPLY_TIMEOUT_MS,
    edit_session_event,
    wait_talking_video_plays,
)

pytestmark = pytest.mark.browser

NIGHT = "sprite:night"
PREFS_KEY = "avatar-chat.choices"
CHINESE_QUESTION = "你好！今天天气怎么样？"

# A server that lists an avatar it will not show.
OFFER_A_MISSING_AVATAR = edit_session_event(
    "event.avatars",
    "event.avatars.push({ name: 'sprite:gone', kind: 'sprite', width: 256, height: 256,"
    " thumbnail: null, default: false })",
)
# A server that says a persona may be set, and then refuses it (this app does not allow one).
OFFER_A_PERSONA = edit_session_event(
    "event.avatars", "event.persona = { allowed: true, max_chars: 50 }"
)

# The colour at the top-left corner of the talking video's current frame: the sprite's
# background, light blue for the default palette, dark blue for the night one.
CORNER_RGB = """
() => {
  const v = document.getElementById('talk-video');
  const canvas = document.createElement('canvas');
  canvas.width = v.videoWidth;
  canvas.height = v.videoHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(v, 0, 0);
  return Array.from(ctx.getImageData(4, 4, 1, 1).data.slice(0, 3));
}
"""

# The caption on screen and its lang, read at once (it changes as the video plays).
CAPTION = """
() => {
  const el = document.getElementById('captions');
  return { text: el.textContent, lang: el.lang };
}
"""


def _wait_ready(page) -> None:
    page.wait_for_function(
        "window.avatarChat && window.avatarChat.status === 'listening'"
        " && window.avatarChat.choices.avatars.length > 0",
        timeout=60_000,
    )


def _wait_settled(page) -> dict:
    """No configure on its way; returns the choices in effect."""
    page.wait_for_function("window.avatarChat.choices.pending === 0", timeout=30_000)
    return page.evaluate("window.avatarChat.choices.current")


def _choose_night_and_chinese(page) -> None:
    page.click(f"#avatar-gallery button[data-avatar='{NIGHT}']")
    page.wait_for_function(
        "(n) => window.avatarChat.choices.current.avatar === n", arg=NIGHT, timeout=30_000
    )
    page.click("#language-options label:has(input[value='zh'])")
    page.wait_for_function("window.avatarChat.choices.current.language === 'zh'", timeout=30_000)
    assert _wait_settled(page)["avatar"] == NIGHT


def _pressed_avatar(page) -> list[str]:
    return page.eval_on_selector_all(
        "#avatar-gallery button[aria-pressed='true']", "bs => bs.map((b) => b.dataset.avatar)"
    )


def _checked_language(page) -> str:
    return page.eval_on_selector("#language-options input:checked", "r => r.value")


def test_the_chosen_avatar_talks_in_chinese_with_chinese_captions(page, artifacts_dir):
    _wait_ready(page)
    offer = page.evaluate("window.avatarChat.choices")
    assert NIGHT in offer["avatars"] and offer["languages"] == ["auto", "en", "zh"]
    assert not offer["personaAllowed"] and page.is_hidden("#persona-form")  # off on this app
    # Every thumbnail loaded, and the server's avatar is the one marked.
    page.wait_for_function(
        """() => [...document.querySelectorAll('#avatar-gallery img')]
            .every((img) => img.complete && img.naturalWidth > 0)""",
        timeout=30_000,
    )
    assert page.locator("#avatar-gallery img").count() == len(offer["avatars"])
    assert _pressed_avatar(page) == [offer["current"]["avatar"]] != [NIGHT]
    assert _checked_language(page) == "auto"

    _choose_night_and_chinese(page)
    assert _pressed_avatar(page) == [NIGHT]
    assert _checked_language(page) == "zh"
    # The voices are those of the chosen language only.
    options = page.eval_on_selector_all("#voice-select option", "os => os.map((o) => o.value)")
    assert options == ["", *offer["voices"]["zh"]]
    # The stage has the chosen avatar's size; at rest it shows that avatar's picture.
    avatar = page.evaluate("window.avatarChat.avatar")
    aspect = page.evaluate("getComputedStyle(document.getElementById('stage')).aspectRatio")
    assert aspect.replace(" ", "") == f"{avatar['width']}/{avatar['height']}"
    # At rest it loops that avatar's own idle clip, which replaces the still picture.
    page.wait_for_function(
        """() => {
            const v = document.getElementById('idle-video');
            return v.getAttribute('src') === 'avatars/sprite:night/idle.mp4'
                && v.readyState >= 2 && document.getElementById('idle-still').hidden;
        }""",
        timeout=30_000,
    )

    page.fill("#message", CHINESE_QUESTION)
    page.click("#send")
    wait_talking_video_plays(page)
    page.wait_for_function(
        "document.getElementById('captions').textContent.trim().length > 0", timeout=30_000
    )
    caption = page.evaluate(CAPTION)
    r, g, b = page.evaluate(CORNER_RGB)  # the night palette's dark sky, not the default's
    page.screenshot(path=str(artifacts_dir / "browser_choices_zh.png"))
    assert caption["text"] and caption["lang"] == "zh", caption
    assert r + g + b < 400, (r, g, b)

    page.wait_for_function(
        "window.avatarChat.status === 'listening'", timeout=REPLY_TIMEOUT_MS, polling=50
    )
    [turn] = page.evaluate("window.avatarChat.turns")
    assert turn["outcome"] == "ended" and turn["decodedFrames"] > 0
    assert CHINESE_QUESTION in turn["replyText"]
    assert turn["captionsShown"] == turn["captions"]
    langs = page.eval_on_selector_all("#transcript .msg .text", "ps => ps.map((p) => p.lang)")
    assert langs == ["zh", "zh"]
    assert page.evaluate("window.avatarChat.choices.current")["avatar"] == NIGHT
    saved = json.loads(page.evaluate("(k) => localStorage.getItem(k)", PREFS_KEY))
    assert saved == {"language": "zh", "avatar": NIGHT}
    assert page.errors == []


def test_a_choice_outlives_a_reload_and_starts_the_next_visit(page, app_url):
    _wait_ready(page)
    _choose_night_and_chinese(page)

    # A reload resumes the session, which keeps its choices; the page shows them.
    page.reload()
    _wait_ready(page)
    assert _wait_settled(page) == {
        "language": "zh",
        "avatar": NIGHT,
        "voice": None,
        "persona": None,
    }
    assert _pressed_avatar(page) == [NIGHT] and _checked_language(page) == "zh"

    # The next visit (a new tab: a new session) starts with them, from the /ws query.
    visit = page.context.new_page()
    visit.errors = []
    visit.on("pageerror", lambda exc: visit.errors.append(str(exc)))
    visit.goto(app_url + "/")
    _wait_ready(visit)
    url = visit.evaluate("window.__sockets[0].url")
    assert "lang=zh" in url and "avatar=sprite%3Anight" in url, url
    assert "session=" not in url
    assert visit.evaluate("window.avatarChat.sessionId") != page.evaluate(
        "window.avatarChat.sessionId"
    )
    choices = visit.evaluate("window.avatarChat.choices")
    assert choices["current"]["avatar"] == NIGHT and choices["current"]["language"] == "zh"
    assert choices["configuresSent"] == 0  # the query did it all
    assert _pressed_avatar(visit) == [NIGHT] and _checked_language(visit) == "zh"
    assert page.errors == [] and visit.errors == []


def test_a_refused_choice_is_said_and_its_control_goes_back(page):
    page.add_init_script(RECORD_TOASTS)
    page.add_init_script(OFFER_A_MISSING_AVATAR)
    page.reload()
    _wait_ready(page)
    before = _wait_settled(page)
    page.click("#avatar-gallery button[data-avatar='sprite:gone']")
    page.wait_for_function(
        "window.toastLog.some((t) => t.includes('unknown_avatar'))", timeout=30_000
    )
    assert _wait_settled(page) == before
    assert _pressed_avatar(page) == [before["avatar"]]
    assert page.locator("#avatar-gallery button[data-avatar='sprite:gone'] .avatar-name").count()
    assert page.evaluate("(k) => localStorage.getItem(k)", PREFS_KEY) is None  # nothing taken
    assert page.errors == []


def test_a_remembered_choice_the_server_no_longer_offers_is_forgotten(page):
    _wait_ready(page)
    # Saved on an earlier visit: Chinese, and an avatar this server does not have.
    prefs = json.dumps({"language": "zh", "avatar": "sprite:gone"})
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [PREFS_KEY, prefs])
    page.evaluate("sessionStorage.clear()")  # a new visit: a new session
    page.add_init_script(RECORD_TOASTS)
    page.reload()
    _wait_ready(page)
    assert "avatar=sprite%3Agone" in page.evaluate("window.__sockets[0].url")
    # The server refuses the whole query; the page forgets the avatar and asks for the rest.
    page.wait_for_function(
        "window.toastLog.some((t) => t.includes('unknown_avatar'))", timeout=30_000
    )
    page.wait_for_function("window.avatarChat.choices.current.language === 'zh'", timeout=30_000)
    current = _wait_settled(page)
    assert current["avatar"] != "sprite:gone"
    saved = json.loads(page.evaluate("(k) => localStorage.getItem(k)", PREFS_KEY))
    assert saved == {"language": "zh"}
    assert page.errors == []


def test_the_persona_box_shows_its_limit_and_a_refused_persona_is_undone(page):
    page.add_init_script(RECORD_TOASTS)
    page.add_init_script(OFFER_A_PERSONA)
    page.reload()
    _wait_ready(page)
    assert page.is_visible("#persona-form")
    assert page.get_attribute("#persona-text", "maxlength") == "50"
    page.fill("#persona-text", "A pirate who answers in rhymes.")
    assert page.inner_text("#persona-count") == "31 / 50"
    page.click("#persona-form button[type='submit']")
    page.wait_for_function(
        "window.toastLog.some((t) => t.includes('persona_not_allowed'))", timeout=30_000
    )
    assert _wait_settled(page)["persona"] is None
    assert page.input_value("#persona-text") == ""  # back to the server's persona
    assert page.errors == []
