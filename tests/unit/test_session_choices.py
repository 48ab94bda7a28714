"""A session's own choices: the rules (each refusal and its code, nothing changed after one),
the configure message and the /ws query, and where each choice ends up: the sentences' language
and voice, the system prompt, the utterances' language and the avatar of a turn."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.core.errors import ErrorCode
from actors.core.events import ConfiguredEvent
from actors.core.messages import MediaChunk, Sentence, TextDelta, Utterance
from actors.engines.avatar.base import AvatarInfo
from actors.engines.llm import EchoLLM
from actors.engines.tts.base import choose_voice
from actors.pipeline.choices import (
    ChoiceError,
    ChoiceOptions,
    SessionChoices,
    choose,
    language_instruction,
    system_prompt,
)
from actors.pipeline.conversation import Conversation
from actors.pipeline.splitter import SentenceSplitter
from actors.session.remote_stages import DeploymentStages
from config import ChoicesSettings, Settings, tts_voices
from serve_app.protocol import (
    PARSE_ERROR_CODES,
    ProtocolError,
    choices_from_query,
    parse_client_text,
    to_wire,
)
from tests.fakes.fake_handles import FakeAvatarHandle, FakeTTSHandle

pytestmark = pytest.mark.unit

VOICES = {"en": ["en-us", "en-gb"], "zh": ["cmn"]}
OPTIONS = ChoiceOptions(
    avatars=("sprite", "sprite:night", "astro"),
    voices=VOICES,
    allow_persona=True,
    max_persona_chars=40,
    default_avatar="sprite",
)
CHOSEN = SessionChoices(
    language="en", avatar="astro", voice="en-gb", voice_language="en", persona="Be brief."
)


# --- the rules


def test_no_choice_is_the_servers_default():
    assert SessionChoices().to_wire(default_avatar="sprite") == {
        "language": "auto",
        "avatar": "sprite",
        "voice": None,
        "persona": None,
    }
    assert choose(SessionChoices(), {}, OPTIONS) == SessionChoices()


def test_valid_choices_are_taken_together():
    got = choose(
        SessionChoices(),
        {"language": "en", "avatar": "astro", "voice": "en-gb", "persona": " Be brief. "},
        OPTIONS,
    )
    assert got == CHOSEN


@pytest.mark.parametrize(
    "request_, code",
    [
        ({"language": "fr"}, ErrorCode.UNKNOWN_LANGUAGE),
        ({"language": "-"}, ErrorCode.UNKNOWN_LANGUAGE),
        ({"avatar": "nobody"}, ErrorCode.UNKNOWN_AVATAR),
        ({"voice": "cmn"}, ErrorCode.UNKNOWN_VOICE),  # a Chinese voice, the session is en
        ({"voice": "no-such-voice"}, ErrorCode.UNKNOWN_VOICE),
        ({"persona": "x" * 41}, ErrorCode.PERSONA_TOO_LONG),
        # the first bad choice names the code; the good ones before it are not taken either
        ({"language": "zh", "avatar": "sprite:night", "voice": "en-us"}, ErrorCode.UNKNOWN_VOICE),
        ({"language": "xx", "avatar": "nobody"}, ErrorCode.UNKNOWN_LANGUAGE),
    ],
)
def test_a_refused_request_names_its_code_and_changes_nothing(request_, code):
    with pytest.raises(ChoiceError) as caught:
        choose(CHOSEN, request_, OPTIONS)
    assert caught.value.code == code
    message = str(caught.value)
    for value in request_.values():
        assert value not in message or value in ("zh", "en")  # never echoes what was sent


def test_a_persona_is_refused_where_the_server_allows_none():
    closed = ChoiceOptions(avatars=("sprite",), voices=VOICES, default_avatar="sprite")
    with pytest.raises(ChoiceError) as caught:
        choose(SessionChoices(), {"persona": "You are a pirate."}, closed)
    assert caught.value.code == ErrorCode.PERSONA_NOT_ALLOWED
    # back to the server's persona is always allowed
    assert choose(SessionChoices(), {"persona": None}, closed).persona is None


@pytest.mark.parametrize("value", [None, "", "  "])
def test_null_and_empty_return_to_the_default(value):
    back = choose(CHOSEN, {"language": value, "avatar": value, "voice": value}, OPTIONS)
    assert (back.language, back.avatar, back.voice) == (None, None, None)
    assert back.persona == CHOSEN.persona  # not named: kept
    assert choose(CHOSEN, {"persona": value}, OPTIONS).persona is None


@pytest.mark.parametrize("value", ["auto", "AUTO", " auto "])
def test_auto_is_the_default_language(value):
    assert choose(CHOSEN, {"language": value}, OPTIONS).language is None


def test_language_codes_are_normalised():
    assert choose(SessionChoices(), {"language": "zh-CN"}, OPTIONS).language == "zh"
    assert choose(SessionChoices(), {"language": "EN"}, OPTIONS).language == "en"


def test_choosing_the_default_avatar_by_name_is_no_choice():
    assert choose(CHOSEN, {"avatar": "sprite"}, OPTIONS).avatar is None


def test_a_voice_is_checked_against_the_sessions_language():
    zh = choose(SessionChoices(), {"language": "zh", "voice": "cmn"}, OPTIONS)
    assert (zh.voice, zh.voice_language) == ("cmn", "zh")
    # on auto, a voice of any language: it speaks the sentences of its own language
    auto = choose(SessionChoices(), {"voice": "cmn"}, OPTIONS)
    assert (auto.language, auto.voice_language, auto.voices()) == (None, "zh", {"zh": "cmn"})
    # another language drops the voice of the previous one; auto keeps it
    assert choose(zh, {"language": "en"}, OPTIONS).voice is None
    assert choose(zh, {"language": "auto"}, OPTIONS).voice == "cmn"


def test_the_allowlists_narrow_what_the_server_has():
    offered = ChoiceOptions.offered(
        ChoicesSettings(avatars=["astro"], voices=["en-gb", "cmn"]),
        avatars=["sprite", "sprite:night", "astro"],
        voices={"en": ["en-us", "en-gb"], "zh": ["cmn"], "xx": ["elsewhere"]},
        default_avatar="sprite",
    )
    assert offered.avatars == ("sprite", "astro")  # the default always stays
    assert offered.wire_voices() == {"en": ["en-gb"], "zh": ["cmn"]}
    assert offered.wire_languages() == ["auto", "en", "zh"]
    assert (offered.allow_persona, offered.max_persona_chars) == (False, 1000)
    everything = ChoiceOptions.offered(
        ChoicesSettings(), avatars=["sprite", "astro"], voices=VOICES, default_avatar="sprite"
    )
    assert everything.avatars == ("sprite", "astro") and everything.wire_voices() == VOICES


def test_choices_survive_the_session_store():
    assert SessionChoices.from_dict(CHOSEN.to_dict()) == CHOSEN
    assert SessionChoices.from_dict(None) == SessionChoices()
    assert SessionChoices.from_dict({"language": 3, "voice": "cmn"}) == SessionChoices(voice="cmn")
    json.dumps(CHOSEN.to_dict())  # plain JSON for the store actor


def test_the_tts_voices_of_each_engine():
    fallback = Settings.load({}, env={}).tts
    # Each language's defaults first (edge-tts's, then espeak-ng's), then the other voices.
    assert tts_voices(fallback) == {
        "en": [
            "en-US-AriaNeural",
            "en-US-GuyNeural",
            "en-GB-SoniaNeural",
            "en-us",
            "en-us+f3",
            "en-gb-x-rp",
        ],
        "zh": ["zh-CN-XiaoxiaoNeural", "zh-CN-YunxiNeural", "cmn", "cmn+f3"],
    }
    espeak = Settings.load(
        {"tts": {"engine": "espeak", "voices": {"zh": "yue"}, "more_voices": {}}}, env={}
    ).tts
    assert tts_voices(espeak) == {"en": ["en-us"], "zh": ["yue"]}
    more = Settings.load(
        {"tts": {"engine": "espeak", "more_voices": {"zh": ["cmn", "yue"]}}}, env={}
    ).tts
    assert tts_voices(more) == {"en": ["en-us"], "zh": ["cmn", "yue"]}  # replaced, not merged


# --- the persona and the language instruction


def test_no_choice_leaves_the_engines_persona_alone():
    assert system_prompt(SessionChoices(), "Server persona.") is None


def test_a_chosen_language_is_told_after_the_persona():
    prompt = system_prompt(SessionChoices(language="zh"), "Server persona.")
    assert prompt.startswith("Server persona.\n\n")
    assert prompt.endswith(language_instruction("zh"))
    assert "Chinese" in language_instruction("zh") and "Simplified" in language_instruction("zh")
    assert "English" in language_instruction("en")
    assert language_instruction(None) is None


def test_the_sessions_persona_replaces_the_servers():
    assert system_prompt(SessionChoices(persona="Be a pirate."), "Server.") == "Be a pirate."
    both = system_prompt(SessionChoices(language="en", persona="Be a pirate."), "Server.")
    assert both == f"Be a pirate.\n\n{language_instruction('en')}"
    # an engine without a persona of its own (the echo): the instruction alone
    assert system_prompt(SessionChoices(language="en"), None) == language_instruction("en")


class RecordingLLM(EchoLLM):
    """The echo, recording the keyword arguments of every ``stream`` call."""

    def __init__(self) -> None:
        super().__init__(chars_per_s=100000)
        self.calls: list[dict] = []

    def stream(self, history, user, **options):
        self.calls.append(options)
        return super().stream(history, user, **options)


class TextOnly:
    """A pipeline that passes the reply text through and ends the turn."""

    async def run(self, deltas, *, turn_id=""):
        from actors.core.messages import StageTimings
        from actors.pipeline.turn_events import TurnDone

        text = [d.text async for d in deltas]
        yield TurnDone("".join(text), 0.0, StageTimings())


async def finish(conv: Conversation) -> None:
    await asyncio.sleep(0)
    while conv.busy:
        await asyncio.sleep(0.01)


async def test_the_conversation_passes_the_persona_only_when_chosen():
    llm = RecordingLLM()
    conv = Conversation(session_id="s", llm=llm, pipeline=TextOnly(), base_persona="Server.")
    conv.submit_text("Hi.")
    await finish(conv)
    conv.choices = SessionChoices(language="zh", persona="Be a pirate.")
    conv.submit_text("Again.")
    await finish(conv)
    assert llm.calls == [{}, {"persona": f"Be a pirate.\n\n{language_instruction('zh')}"}]


# --- the sentences' language and voice, and the engines' voice


def test_the_splitter_labels_sentences_with_the_sessions_choices():
    splitter = SentenceSplitter(voices={"zh": "cmn"})
    out = splitter.push("Hello there. 你好。") + splitter.flush()
    assert out == [Sentence("Hello there.", 0), Sentence("你好。", 1, voice="cmn")]
    fixed = SentenceSplitter(language="zh", voices={"zh": "cmn"})
    out = fixed.push("Hello there. ") + fixed.flush()
    assert out == [Sentence("Hello there.", 0, language="zh", voice="cmn")]
    default = SentenceSplitter()
    assert default.push("Hi there. ") == [Sentence("Hi there.", 0)]


def test_an_engine_speaks_a_chosen_voice_it_has_and_passes_over_others():
    table = {"en": "en-us", "zh": "cmn"}
    assert choose_voice(table, "en-us", Sentence("Hi.", voice="cmn"), "t") == "cmn"
    assert choose_voice(table, "en-us", Sentence("你好", voice="en-us"), "t") == "en-us"
    # another engine's voice (a fallback pair): the sentence's language decides
    assert choose_voice(table, "en-us", Sentence("你好", voice="zh-CN-X"), "t") == "cmn"
    assert choose_voice(table, "en-us", Sentence("Hi.", language="zh"), "t") == "cmn"


# --- the configure message and the query


def parse(message) -> object:
    raw = message if isinstance(message, str) else json.dumps(message)
    return parse_client_text(raw, max_chars=2000, max_bytes=16384)


def test_a_configure_message_carries_the_choices_it_names():
    msg = parse({"type": "configure", "language": "zh", "voice": None, "id": "c8", "x": 1})
    assert (msg.type, msg.client_id, msg.choices) == (
        "configure",
        "c8",
        {"language": "zh", "voice": None},
    )
    assert parse({"type": "configure"}).choices == {}


@pytest.mark.parametrize(
    "value", [3, True, ["zh"], {"a": 1}, "\ud800"], ids=["int", "bool", "list", "dict", "lone"]
)
def test_a_choice_that_is_not_a_string_or_null_is_a_bad_message(value):
    with pytest.raises(ProtocolError) as caught:
        parse(json.dumps({"type": "configure", "voice": value, "id": "c9"}))
    assert caught.value.code == ErrorCode.BAD_MESSAGE and caught.value.client_id == "c9"
    assert "voice" in str(caught.value)


def test_a_bad_id_on_configure_is_a_bad_message():
    with pytest.raises(ProtocolError) as caught:
        parse({"type": "configure", "id": ""})
    assert caught.value.code == ErrorCode.BAD_MESSAGE and caught.value.client_id is None


CHOICE_VALUES = st.none() | st.text(max_size=30) | st.integers() | st.lists(st.none(), max_size=2)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    fields=st.dictionaries(
        st.sampled_from(["language", "avatar", "voice", "persona", "id", "other"]),
        CHOICE_VALUES,
        max_size=6,
    )
)
def test_any_configure_parses_or_is_refused_cleanly(fields):
    raw = json.dumps({"type": "configure", **fields})
    try:
        msg = parse(raw)
    except ProtocolError as exc:
        assert exc.code in PARSE_ERROR_CODES
        str(exc).encode("utf-8")
        return
    assert set(msg.choices) <= {"language", "avatar", "voice", "persona"}
    for value in msg.choices.values():
        assert value is None or isinstance(value, str)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # strict: it may be echoed


def test_the_query_names_choices_like_configure():
    assert choices_from_query({"lang": "zh", "voice": "cmn", "session": "s1"}) == {
        "language": "zh",
        "voice": "cmn",
    }
    assert choices_from_query({}) == {}
    assert len(choices_from_query({"avatar": "a" * 5000})["avatar"]) == 200


def test_the_configured_event():
    event = ConfiguredEvent(CHOSEN.to_wire(), {"kind": "sprite"}, client_id="c8")
    assert to_wire(event) == {
        "type": "configured",
        "choices": {"language": "en", "avatar": "astro", "voice": "en-gb", "persona": "Be brief."},
        "avatar": {"kind": "sprite"},
        "id": "c8",
    }


# --- the avatar of a turn, and the utterances' language


class ChoosingAvatarHandle(FakeAvatarHandle):
    """The fake Avatar with ``avatar=`` on its calls (the catalog's contract): a chosen
    avatar is 32 px square."""

    def __init__(self) -> None:
        super().__init__(size=64)
        self.named: list[str | None] = []
        self.talking = _Method(self._named_talking)

    def _named_talking(self, audio, first_frame, n_samples, session_id, avatar=None, **options):
        self.named.append(avatar)
        self.size = 64 if avatar is None else 32
        return self._talking(audio, first_frame, n_samples, session_id, **options)

    @property
    def info(self):
        async def info(avatar=None):
            return AvatarInfo("sprite", 32, 32, 25, name=avatar)

        return _Method(info)


class _Method:
    def __init__(self, fn) -> None:
        self._fn = fn

    def remote(self, *args, **kwargs):
        return self._fn(*args, **kwargs)


async def run_turn(conv: Conversation) -> list:
    conv.submit_text("Hello there. How are you?")
    items = []
    await asyncio.sleep(0)
    while conv.busy or not conv.outbox.empty():
        items.append(await asyncio.wait_for(conv.outbox.get(), 30))
    return items


async def test_a_turn_shows_the_avatar_chosen_when_it_started():
    avatar = ChoosingAvatarHandle()
    settings_ = Settings.load({}, env={})
    default_info = AvatarInfo("sprite", 64, 64, 25)
    conv = None
    stages = DeploymentStages(
        tts=FakeTTSHandle(),
        avatar=avatar,
        settings=settings_,
        avatar_info=default_info,
        choices=lambda: conv.choices,
    )
    conv = Conversation(session_id="s", llm=EchoLLM(chars_per_s=100000), pipeline=stages.pipeline())
    first = await run_turn(conv)
    assert avatar.named and set(avatar.named) == {None}  # the default: not named at all
    assert stages.encoder().width == 64
    conv.choices = SessionChoices(avatar="astro", language="zh", voice="cmn", voice_language="zh")
    avatar.named.clear()
    second = await run_turn(conv)
    assert set(avatar.named) == {"astro"}
    assert stages.encoder().width == 32  # the chosen avatar's info, taken as the turn began
    assert stages.splitter().push("Hi there. ") == [
        Sentence("Hi there.", 0, language="zh", voice="cmn")
    ]
    for items in (first, second):
        assert any(isinstance(i, MediaChunk) and i.kind == "init" for i in items)


async def test_the_voice_input_sends_the_sessions_language_with_each_utterance():
    from actors.pipeline.voice_input import VoiceInput

    heard: list[Utterance] = []

    async def transcribe(utterance):
        from actors.core.messages import Transcript

        heard.append(utterance)
        return Transcript("", None)

    class OneUtterance:
        speech_run_ms = 0

        def feed(self, pcm):
            return [Utterance(pcm, 16000, 0.0, 1.0)]

    conv = Conversation(session_id="s", llm=EchoLLM(), pipeline=TextOnly())
    voice = VoiceInput(
        conversation=conv,
        transcribe=transcribe,
        settings=Settings.load({}, env={}).vad,
        vad=OneUtterance(),
    )
    await voice.feed(np.zeros(160, np.int16))
    voice.language = "zh"
    await voice.feed(np.zeros(160, np.int16))
    async with asyncio.timeout(10):
        while len(heard) < 2:  # transcriptions run in order, after the feed returns
            await asyncio.sleep(0.01)
    await voice.close()
    assert [u.language for u in heard] == [None, "zh"]


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> Path:
    from tests.fakes.tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


def test_whisper_listens_for_the_utterances_language(tiny_whisper, monkeypatch):
    from actors.engines.asr import WhisperASR

    asr = WhisperASR(model=str(tiny_whisper), device="cpu", language="en")
    seen: list[dict] = []
    real = asr._model.transcribe

    def spy(audio, **options):
        seen.append(options)
        return real(audio, **options)

    monkeypatch.setattr(asr._model, "transcribe", spy)
    pcm = (np.sin(np.arange(16000) / 5) * 3000).astype(np.int16)
    assert asr.transcribe(Utterance(pcm, 16000, 0.0, 1.0, language="zh")).language == "zh"
    assert asr.transcribe(Utterance(pcm, 16000, 0.0, 1.0)).language == "en"
    assert asr.transcribe(Utterance(pcm, 16000, 0.0, 1.0, language="xx")).language == "en"
    assert [s["language"] for s in seen] == ["zh", "en", "en"]
    assert seen[0]["initial_prompt"] == asr.settings.initial_prompts["zh"]
    assert seen[1]["initial_prompt"] is None


def test_text_delta_reply_is_unlabelled_by_default():
    """The default session's sentences are exactly what they were (the golden session)."""
    splitter = SentenceSplitter()
    assert splitter.push(TextDelta("One. Two. ")) == [Sentence("One.", 0), Sentence("Two.", 1)]
