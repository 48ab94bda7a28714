"""actors.core.language: the script of a sentence picks its language, unless it names one."""

from __future__ import annotations

import pytest

from actors.core.language import (
    detect_language,
    is_han,
    normalize_language,
    sentence_language,
)
from actors.core.messages import Sentence
from config.languages import DEFAULT_LANGUAGE, LANGUAGES

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    ["你好！请介绍一下你自己。", "我们", "今天天气很好，对吧？", "㐀㐁", "「你好」"],
)
def test_chinese_is_zh(text):
    assert detect_language(text) == "zh"


@pytest.mark.parametrize(
    "text",
    [
        "Hello world.",
        "It scales.",
        "Don't worry, it's well-known.",
        "Café crème, naïve façade.",
        "Guten Tag.",  # no German voice: the default language's
        "Привет, мир.",
    ],
)
def test_text_without_han_is_en(text):
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Ray Serve 是一个库。", "zh"),
        ("我用 Python。", "zh"),
        ("I like 饺子 a lot.", "zh"),  # a Chinese voice reads the English; not the reverse
        ("(offline echo) You said: 你好！", "zh"),
        ("Don't 说", "zh"),
    ],
)
def test_text_with_any_han_is_zh(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text", ["", "   ", "123 456", "3.14!", "。，、！？「」《》", "😀🎉", "々〆", "\x00\t"]
)
def test_digits_punctuation_and_emoji_only_are_the_default(text):
    assert detect_language(text) == DEFAULT_LANGUAGE == "en"


def test_digits_and_cjk_punctuation_are_neutral():
    assert detect_language("2024年。") == "zh"
    assert detect_language("1, 2, 3, 4, 5 个") == "zh"
    assert detect_language("Version 2.0，好。") == "zh"  # 1 word, 1 Han character


def test_han_ranges():
    assert is_han("一") and is_han("\u9fff") and is_han("\u3400") and is_han("\u4dbf")
    assert not any(is_han(ch) for ch in "aあア한。，\u3000\uff01")


def test_explicit_language_wins_over_detection():
    assert sentence_language(Sentence("你好。", language="en")) == "en"
    assert sentence_language(Sentence("Hello.", language="zh")) == "zh"
    assert sentence_language(Sentence("Guten Tag.", language="de")) == "de"  # kept, even unknown


@pytest.mark.parametrize("language", [None, "", "auto", "AUTO", " auto "])
def test_no_language_or_auto_detects(language):
    assert sentence_language(Sentence("你好。", language=language)) == "zh"
    assert sentence_language(Sentence("Hello.", language=language)) == "en"


@pytest.mark.parametrize(
    ("code", "normal"),
    [("zh", "zh"), ("zh-CN", "zh"), ("zh_Hans", "zh"), ("EN-us", "en"), ("de", "de")],
)
def test_language_codes_are_normalised(code, normal):
    assert normalize_language(code) == normal
    assert sentence_language(Sentence("text", language=code)) == normal


def test_detected_languages_are_known_to_the_settings():
    assert {detect_language("你好"), detect_language("hi")} == set(LANGUAGES)
