"""Session choices end to end: real Ray and Serve, a real socket, the scripted OpenAI server.

A session connects with ``?lang=zh``; refused choices get their error codes and change
nothing; a configure changes voice and persona; the next replies' system prompts carry the
persona and the language instruction; a resumed session keeps its choices.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from actors.pipeline.choices import language_instruction
from config import Settings
from serve_app.session_restore import actor_pid
from tests.fakes.openai_server import FakeOpenAIServer
from tests.serve_fixtures import running_app, session_of
from tests.ws_client import ChatClient

# A hang guard, not a speed limit: the module's app starts inside its first test, and the
# restore test waits for a killed host's restart; beside two CPU burners that took over 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PERSONA = "You are Captain Test, a calm ship's avatar."
MAX_PERSONA = 200


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(script="Aye. All is well on board.") as srv:
        yield srv


@pytest.fixture(scope="module")
def choices_url(llm_server) -> Iterator[str]:
    args = {
        "llm": {"engine": "openai", "base_url": llm_server.base_url, "model": "fake-model"},
        "choices": {"allow_persona": True, "max_persona_chars": MAX_PERSONA},
    }
    with running_app(args, name="choices", route_prefix="/choices") as base:
        yield base


def client(base: str, query: str = "", **options) -> ChatClient:
    c = ChatClient(base, **options)
    if query:
        c.url += ("&" if "?" in c.url else "?") + query
    return c


async def configure(c: ChatClient, **choices) -> dict:
    """Send a configure message; the ``configured`` or ``error`` answer (with its id)."""
    await c.send({"type": "configure", "id": "m", **choices})
    while True:
        item = await c.recv()
        if item.event and item.event["type"] in ("configured", "error"):
            assert item.event.get("id") == "m"
            return item.event


async def test_choices_at_connect_refusals_and_a_configure_reach_the_reply(choices_url, llm_server):
    default_persona = Settings.load({"llm": {"base_url": "http://x"}}, env={}).llm.persona
    async with client(choices_url, "lang=zh") as c:
        hello = c.hello
        assert hello["choices"] == {
            "language": "zh",
            "avatar": hello["choices"]["avatar"],  # the server's avatar, by its name
            "voice": None,
            "persona": None,
        }
        assert hello["languages"] == ["auto", "en", "zh"]
        assert hello["voices"] == {  # espeak's: each language's default, then the others
            "en": ["en-us", "en-us+f3", "en-gb-x-rp"],
            "zh": ["cmn", "cmn+f3"],
        }
        assert hello["persona"] == {"allowed": True, "max_chars": MAX_PERSONA}
        assert hello["max_input_chars"] == 2000  # the page's input box follows it
        assert [a for a in hello["avatars"] if a["default"]], hello["avatars"]
        assert hello["avatar"]["kind"] == "sprite"

        # The query's language reaches the model: the server's persona, then the instruction.
        await c.ask("Hello there.")
        await c.until("turn_end")
        system = llm_server.received_messages[-1][0]
        assert system == {
            "role": "system",
            "content": f"{default_persona}\n\n{language_instruction('zh')}",
        }

        # Refused choices: their codes, and nothing changes (the valid voice beside a bad
        # language is not taken either).
        refused = [
            ({"language": "fr"}, "unknown_language"),
            ({"avatar": "no-such-avatar"}, "unknown_avatar"),
            ({"voice": "en-us"}, "unknown_voice"),  # an English voice for a Chinese session
            ({"persona": "x" * (MAX_PERSONA + 1)}, "persona_too_long"),
            ({"voice": "cmn", "language": "fr"}, "unknown_language"),
        ]
        for choices, code in refused:
            answer = await configure(c, **choices)
            assert (answer["type"], answer["code"]) == ("error", code), (choices, answer)
        unchanged = await configure(c)
        assert unchanged["type"] == "configured"
        assert unchanged["choices"] == hello["choices"]
        bad = await configure(c, voice=7)
        assert (bad["type"], bad["code"]) == ("error", "bad_message")

        changed = await configure(c, voice="cmn+f3", persona=PERSONA)
        assert changed["type"] == "configured"
        assert changed["choices"] == {**hello["choices"], "voice": "cmn+f3", "persona": PERSONA}
        assert changed["avatar"] == hello["avatar"]

        before = len(llm_server.requests)
        await c.ask("How is the ship?")
        turn = await c.until("turn_end")
        assert turn.of_type("sentence") and turn.media
        assert len(llm_server.requests) == before + 1
        system = llm_server.received_messages[-1][0]
        assert system == {"role": "system", "content": f"{PERSONA}\n\n{language_instruction('zh')}"}
        session_id = hello["session_id"]

        # Another avatar from the catalog (the sprite in another palette): named in the
        # Avatar calls from the next reply on.
        others = [a["name"] for a in hello["avatars"] if not a["default"]]
        if others:
            other = await configure(c, avatar=others[0])
            assert other["type"] == "configured" and other["choices"]["avatar"] == others[0]
            await c.ask("And now?")
            turn = await c.until("turn_end")
            assert turn.media and turn.media[0].header["kind"] == "init"
            changed = other

    # A resumed session keeps its choices, whatever its query says.
    async with client(choices_url, "lang=en", session_id=session_id) as again:
        assert again.hello["resumed"] is True
        assert again.hello["choices"] == changed["choices"]


async def test_a_refused_query_choice_leaves_the_defaults_and_says_why(choices_url):
    async with client(choices_url, "lang=klingon&voice=cmn") as c:
        assert c.hello["choices"]["language"] == "auto" and c.hello["choices"]["voice"] is None
        error = (await c.until("error")).of_type("error")[0]
        assert error["code"] == "unknown_language" and "klingon" not in error["message"]


async def test_a_session_restored_after_its_host_died_keeps_its_choices(choices_url):
    async with client(choices_url, "lang=zh&voice=cmn") as c:
        chosen = await configure(c, persona=PERSONA)
        assert chosen["choices"]["voice"] == "cmn" and chosen["choices"]["language"] == "zh"
        actor = await session_of(c.hello["session_id"], app="choices")
        os.kill(actor_pid(actor), signal.SIGKILL)  # its host dies: the store has the choices
        assert (await c.until("error", timeout=60)).events[-1]["code"] == "session_lost"
        hello = (await c.until("session", timeout=120)).events[-1]
        assert hello["resumed"] is True and hello["choices"] == chosen["choices"]
        await c.ask("Still there?")
        await c.until("turn_end", timeout=120)
