"""The language model: the settings of each LLM engine, chosen by ``llm.engine``.

``openai`` streams from an OpenAI-compatible endpoint; ``echo`` is the offline stand-in that
repeats the user's words. ``auto`` (the default) is resolved when the settings are validated:
``openai`` when ``base_url`` or ``api_key`` is set (OPENAI_BASE_URL, OPENAI_API_KEY), else
``echo``, so a server with no endpoint and no key still answers. The validated section is the
chosen engine's settings (``engine`` names it; dumps carry that name).

Keys that belong to another LLM engine than the chosen one are ignored, so OPENAI_* variables
in the environment neither break ``engine: echo`` nor a dump re-read in a Serve replica; keys
that no LLM engine knows are still refused.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Field,
    SecretStr,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from config.engine_settings import (
    EngineSettings,
    choices,
    engine_choice,
    register_engine_settings,
)

__all__ = [
    "AUTO",
    "EchoLLMSettings",
    "LLMEngineSettings",
    "LLMSettings",
    "OpenAIChatSettings",
    "default_llm_settings",
]

AUTO = "auto"  # not an engine: the name that picks openai or echo at validation


class LLMEngineSettings(EngineSettings):
    """What every LLM engine has: how much of the conversation a session keeps."""

    stand_in: ClassVar[bool] = False  # True: no language model at all (clients label it)

    max_history_messages: int = Field(
        20, ge=0, description="Past user/assistant messages kept and sent with each request."
    )

    @property
    def model_name(self) -> str:
        """The model a client is told it talks to."""
        return self.engine


class OpenAIChatSettings(LLMEngineSettings):
    engine: Literal["openai"] = Field(
        "openai", description="An OpenAI-compatible chat completions endpoint, streamed."
    )
    base_url: str | None = Field(
        None, description="Endpoint URL (OPENAI_BASE_URL); None: the OpenAI API itself."
    )
    api_key: SecretStr | None = Field(
        None, description="API key; only from OPENAI_API_KEY (local servers need none)."
    )
    model: str = Field(
        "gpt-4o-mini", min_length=1, description="Chat model name sent to the endpoint."
    )
    persona: str = Field(
        "You are a friendly talking avatar. Answer briefly, in plain spoken sentences, "
        "without lists, markdown or emoji.",
        description="System prompt that sets the avatar's persona.",
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int = Field(400, gt=0, description="Upper bound on reply length in tokens.")
    first_token_timeout_s: float = Field(
        10.0, gt=0, description="Give up if no text arrives within this many seconds."
    )
    total_timeout_s: float = Field(60.0, gt=0, description="Give up on a reply after this long.")

    @model_validator(mode="after")
    def _has_endpoint(self) -> OpenAIChatSettings:
        if self.base_url is None and self.api_key is None:
            raise ValueError(
                "engine openai needs base_url or api_key (OPENAI_BASE_URL, OPENAI_API_KEY); "
                "without them use engine echo"
            )
        return self

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def label(self) -> str:
        return f"{self.model} @ {self.base_url or 'the OpenAI API'}"


class EchoLLMSettings(LLMEngineSettings):
    stand_in: ClassVar[bool] = True

    engine: Literal["echo"] = Field(
        "echo", description="Offline stand-in: repeats the user's words, labelled as an echo."
    )
    chars_per_s: float = Field(60.0, gt=0, description="Pace of the streamed echo.")

    @property
    def label(self) -> str:
        return "offline echo"


for _settings in (OpenAIChatSettings, EchoLLMSettings):
    register_engine_settings(LLMEngineSettings, _settings)


def _resolve(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Replace ``auto`` by the engine it means; drop the keys of the other LLM engines."""
    if not isinstance(value, dict):
        return handler(value)
    name = value.get("engine", AUTO)
    if name == AUTO:
        has_endpoint = value.get("base_url") is not None or value.get("api_key") is not None
        name = "openai" if has_endpoint else "echo"
    known = choices(LLMEngineSettings)
    if name in known:
        mine = set(known[name].model_fields)
        theirs = {key for other in known.values() for key in other.model_fields} - mine
        value = {key: v for key, v in value.items() if key not in theirs}
    return handler({**value, "engine": name})


LLMSettings = Annotated[
    engine_choice(LLMEngineSettings, default=AUTO), WrapValidator(_resolve)
]  # the type of ``Settings.llm``

_ADAPTER: TypeAdapter[LLMEngineSettings] = TypeAdapter(LLMSettings)


def default_llm_settings() -> LLMEngineSettings:
    """The ``llm`` section when none is given: ``auto`` with no endpoint, i.e. the echo."""
    return _ADAPTER.validate_python({})
