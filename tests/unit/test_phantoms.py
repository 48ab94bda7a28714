"""Whisper's phantom lines and near-silent segments never reach a turn."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from actors.engines.asr.phantoms import is_phantom, normalised, spoken_text
from config.asr_settings import PHANTOM_LINES, WhisperASRSettings

pytestmark = pytest.mark.unit


@dataclass
class Seg:
    text: str
    no_speech_prob: float = 0.05


def spoken(*segments: Seg) -> str:
    s = WhisperASRSettings()
    return spoken_text(
        segments, phantom_lines=s.phantom_lines, max_no_speech_prob=s.max_no_speech_prob
    )


def test_known_phantom_lines_are_dropped_however_punctuated():
    assert spoken(Seg("字幕由Amara.org社群提供")) == ""
    assert spoken(Seg(" Thanks for watching!")) == ""
    assert spoken(Seg("THANKS FOR WATCHING")) == ""
    assert spoken(Seg("谢谢观看。谢谢观看。")) == ""  # repeats of one are still only that


def test_real_speech_is_kept_even_when_it_contains_a_phantom_phrase():
    assert spoken(Seg("Thanks for watching the demo with me, what next?")) == (
        "Thanks for watching the demo with me, what next?"
    )
    assert spoken(Seg(" 你好，"), Seg("今天天气怎么样？")) == "你好，今天天气怎么样？"
    assert not is_phantom("", PHANTOM_LINES)


def test_segments_whisper_rates_as_no_speech_are_dropped():
    assert spoken(Seg(" Hello there.", 0.1), Seg(" Um.", 0.9)) == "Hello there."
    assert spoken(Seg(" Hello there.", 0.6)) == "Hello there."  # at the limit: kept


def test_normalised_ignores_case_width_space_and_punctuation():
    assert normalised("Ｔｈａｎｋｓ, for  watching！") == "thanksforwatching"
    assert normalised("字幕由 Amara.org 社群提供") == "字幕由amaraorg社群提供"


def test_chinese_gets_a_prompt_for_simplified_characters():
    prompt = WhisperASRSettings().initial_prompts["zh"]
    assert "简体" in prompt
