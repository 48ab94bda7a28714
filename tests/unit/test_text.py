"""SentenceSplitter: table of cases, chunking invariance, force split, first comma."""

from __future__ import annotations

import random

import pytest

from actors.core.messages import Sentence, TextDelta
from actors.pipeline.splitter import SentenceSplitter, speech_seconds

pytestmark = pytest.mark.unit

NO_COMMA = {"first_clause_min_s": 0 / 15}

# (id, text, options, expected sentences)
CASES = [
    # --- English basics
    ("three-short", "I ate. Go now. It is ok.", {}, ["I ate.", "Go now.", "It is ok."]),
    ("short-words", "Hi. Yes. No. Ok.", {}, ["Hi.", "Yes.", "No.", "Ok."]),
    ("question-exclaim", "Who are you? I am me! Fine.", {}, ["Who are you?", "I am me!", "Fine."]),
    ("run-?!", "Really?! Yes.", {}, ["Really?!", "Yes."]),
    ("ellipsis", "Well... I think so.", {}, ["Well...", "I think so."]),
    ("ellipsis-no-space", "Wait...what now?", {}, ["Wait...what now?"]),
    ("unicode-ellipsis", "Hmm… fine.", {}, ["Hmm…", "fine."]),
    ("semicolon", "It works; mostly.", {}, ["It works;", "mostly."]),
    ("no-ender", "no punctuation at all", {}, ["no punctuation at all"]),
    ("trailing-text", "Done. and then", {}, ["Done.", "and then"]),
    ("whitespace-stripped", "  \n Hello there.   \n\n  Bye.  ", {}, ["Hello there.", "Bye."]),
    ("whitespace-only", "   \n\t  ", {}, []),
    ("empty", "", {}, []),
    ("newline", "First line\nSecond line", {}, ["First line", "Second line"]),
    ("blank-lines", "One.\n\n\nTwo", {}, ["One.", "Two"]),
    ("crlf", "One\r\nTwo", {}, ["One", "Two"]),
    # --- closers stay with their sentence
    ("double-quote", 'He said "Stop." Then he left.', {}, ['He said "Stop."', "Then he left."]),
    ("curly-quote", "She said “go!” and went.", {}, ["She said “go!”", "and went."]),
    ("bracket", "(It was late.) We slept.", {}, ["(It was late.)", "We slept."]),
    ("single-quote", "He said 'yes.' Then.", {}, ["He said 'yes.'", "Then."]),
    ("quote-no-space", 'He said "Hi!"to me.', {}, ['He said "Hi!"to me.']),
    # --- no split inside numbers, abbreviations, URLs, addresses
    ("decimal", "Pi is 3.14 roughly. Next.", {}, ["Pi is 3.14 roughly.", "Next."]),
    ("decimal-end", "It costs 21.5. Cheap.", {}, ["It costs 21.5.", "Cheap."]),
    (
        "titles",
        "Mr. Smith met Dr. Jones and Prof. Li.",
        {},
        ["Mr. Smith met Dr. Jones and Prof. Li."],
    ),
    ("mrs-ms", "Mrs. Lee and Ms. Kim came. Good.", {}, ["Mrs. Lee and Ms. Kim came.", "Good."]),
    ("st-jr-sr", "St. Louis had Jr. and Sr. teams.", {}, ["St. Louis had Jr. and Sr. teams."]),
    ("vs", "Cats vs. dogs is old. Yes.", {}, ["Cats vs. dogs is old.", "Yes."]),
    ("eg-ie", "Fruit, e.g. apples, i.e. food.", NO_COMMA, ["Fruit, e.g. apples, i.e. food."]),
    (
        "eg-capital",
        "Use a language, e.g. Python. Done.",
        NO_COMMA,
        ["Use a language, e.g. Python.", "Done."],
    ),
    ("us-uk", "The U.S. and the U.K. agree. Ok.", {}, ["The U.S. and the U.K. agree.", "Ok."]),
    (
        "am-pm-lower",
        "From 9 a.m. to 5 p.m. daily. Ok.",
        {},
        ["From 9 a.m. to 5 p.m. daily.", "Ok."],
    ),
    ("pm-capital", "We met at 5 p.m. Then we ate.", {}, ["We met at 5 p.m.", "Then we ate."]),
    ("etc-lower", "Apples etc. are good.", {}, ["Apples etc. are good."]),
    (
        "etc-capital",
        "Apples, pears etc. Then more.",
        NO_COMMA,
        ["Apples, pears etc.", "Then more."],
    ),
    ("etc-end", "Apples, pears etc.", NO_COMMA, ["Apples, pears etc."]),
    ("no-number", "See No. 5 and Fig. 3 now. Ok.", {}, ["See No. 5 and Fig. 3 now.", "Ok."]),
    ("no-word", "I said No. Then I left.", {}, ["I said No.", "Then I left."]),
    ("approx", "It is approx. ten. Ok.", {}, ["It is approx. ten.", "Ok."]),
    (
        "url",
        "Visit https://example.com/a.b?x=1 today. Ok.",
        {},
        ["Visit https://example.com/a.b?x=1 today.", "Ok."],
    ),
    ("url-end", "Go to example.com. Then click.", {}, ["Go to example.com.", "Then click."]),
    ("email", "Mail a.b@example.co.uk. Thanks.", {}, ["Mail a.b@example.co.uk.", "Thanks."]),
    ("version", "Use v1.2.3 now. It works.", {}, ["Use v1.2.3 now.", "It works."]),
    ("version-end", "Install v1.2.3. Done.", {}, ["Install v1.2.3.", "Done."]),
    ("initials", "J. R. R. Tolkien wrote it. Yes.", {}, ["J. R. R. Tolkien wrote it.", "Yes."]),
    ("plan-b", "We use plan B. Then go.", {}, ["We use plan B.", "Then go."]),
    (
        "numbered-list",
        "1. First item\n2. Second item\n10. Tenth",
        {},
        ["1. First item", "2. Second item", "10. Tenth"],
    ),
    (
        "list-after-text",
        "Steps:\n1. Boil water.\n2. Add tea.",
        {},
        ["Steps:", "1. Boil water.", "2. Add tea."],
    ),
    ("number-mid-line", "I counted to 3. Then stopped.", {}, ["I counted to 3.", "Then stopped."]),
    ("dot-before-cjk", "I use Python.然后呢", {}, ["I use Python.", "然后呢"]),
    # --- Chinese
    ("zh-basic", "你好。我很好！你呢？", {}, ["你好。", "我很好！", "你呢？"]),
    ("zh-run", "真的吗？！当然。", {}, ["真的吗？！", "当然。"]),
    ("zh-ellipsis", "我想想……好吧。", {}, ["我想想……", "好吧。"]),
    ("zh-semicolon", "天晴了；我们走。", {}, ["天晴了；", "我们走。"]),
    ("zh-quote", "他说：“你好。”然后走了。", {}, ["他说：“你好。”", "然后走了。"]),
    ("zh-brackets", "好的（真的。）走吧。", {}, ["好的（真的。）", "走吧。"]),
    ("zh-corner", "「走吧！」他说。", {}, ["「走吧！」", "他说。"]),
    ("zh-decimal", "圆周率是3.14左右。对。", {}, ["圆周率是3.14左右。", "对。"]),
    ("zh-no-ender", "没有标点的句子", {}, ["没有标点的句子"]),
    # --- mixed
    ("mixed", "Hello世界。This is ok. 再见！", {}, ["Hello世界。", "This is ok.", "再见！"]),
    ("mixed-ascii-ender-cjk", "好!然后呢?", {}, ["好!", "然后呢?"]),
    # --- first comma
    ("comma-short-first", "Hi, there. Ok.", {}, ["Hi, there.", "Ok."]),
    (
        "comma-long-first",
        "Well, this is a fairly long opening clause, and the rest. Ok, go.",
        {},
        ["Well, this is a fairly long opening clause,", "and the rest.", "Ok, go."],
    ),
    (
        "comma-disabled",
        "Well, this is a fairly long opening clause, and the rest.",
        NO_COMMA,
        ["Well, this is a fairly long opening clause, and the rest."],
    ),
    (
        "comma-only-first",
        "Yes, ok, one, two, three, four, five. " * 2,
        {"first_clause_min_s": 5 / 15},
        ["Yes, ok,", "one, two, three, four, five.", "Yes, ok, one, two, three, four, five."],
    ),
    (
        "comma-number",
        "The total came to 1,000,000 dollars in the end.",
        {"first_clause_min_s": 5 / 15},
        ["The total came to 1,000,000 dollars in the end."],
    ),
    (
        "colon",
        "Here is the plan: we go. Ok.",
        {"first_clause_min_s": 10 / 15},
        ["Here is the plan:", "we go.", "Ok."],
    ),
    (
        "zh-comma",
        "你好，这是一个比较长的开头，然后继续。",
        {"first_clause_min_s": 1.0},  # 你好 is half a second of speech: too short
        ["你好，这是一个比较长的开头，", "然后继续。"],
    ),
    (
        "zh-dunhao",
        "苹果、香蕉、橘子和葡萄都很好吃。",
        {"first_clause_min_s": 1.0},
        ["苹果、香蕉、", "橘子和葡萄都很好吃。"],
    ),
    # --- force split
    (
        "force-words",
        "alpha beta gamma delta epsilon zeta eta theta iota kappa",
        {"max_sentence_chars": 20},
        ["alpha beta gamma", "delta epsilon zeta", "eta theta iota kappa"],
    ),  # last: exactly 20
    (
        "force-zh",
        "一二三四五六七八九十" * 5,
        {"max_sentence_chars": 20},
        ["一二三四五六七八九十" * 2, "一二三四五六七八九十" * 2, "一二三四五六七八九十"],
    ),
    (
        "force-zh-comma",
        "一二三四五六七八九十一二三四，五六七八九十一二三四五六",
        {"max_sentence_chars": 20},
        ["一二三四五六七八九十一二三四，", "五六七八九十一二三四五六"],
    ),
    ("force-long-word", "x" * 45, {"max_sentence_chars": 20}, ["x" * 20, "x" * 20, "x" * 5]),
]


def split_once(text: str, **options) -> list[Sentence]:
    splitter = SentenceSplitter(**options)
    return splitter.push(text) + splitter.flush()


def split_chunks(chunks: list[str], **options) -> list[Sentence]:
    splitter = SentenceSplitter(**options)
    out: list[Sentence] = []
    for chunk in chunks:
        out += splitter.push(chunk)
    return out + splitter.flush()


def random_chunks(text: str, rng: random.Random) -> list[str]:
    chunks, i = [], 0
    while i < len(text):
        size = rng.randint(0, 7)  # empty deltas happen in real streams too
        chunks.append(text[i : i + size])
        i += size
    return chunks


def test_table_has_enough_cases():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("text", "options", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_table(text, options, expected):
    sentences = split_once(text, **options)
    assert [s.text for s in sentences] == expected
    assert [s.index for s in sentences] == list(range(len(expected)))


@pytest.mark.parametrize(("text", "options"), [c[1:3] for c in CASES], ids=[c[0] for c in CASES])
def test_chunking_does_not_change_output(text, options):
    expected = split_once(text, **options)
    assert split_chunks(list(text), **options) == expected
    rng = random.Random(text)
    for _ in range(20):
        assert split_chunks(random_chunks(text, rng), **options) == expected


def test_emits_as_soon_as_end_is_known():
    splitter = SentenceSplitter()
    assert splitter.push("Hello world.") == []  # could still become "world.com"
    assert splitter.push(" Next") == [Sentence("Hello world.", 0)]
    assert splitter.push(" one!\n") == [Sentence("Next one!", 1)]
    assert splitter.push("你好。") == []  # "？" or "”" may still follow
    assert splitter.push("我") == [Sentence("你好。", 2)]
    assert splitter.push("们\n") == [Sentence("我们", 3)]
    assert splitter.flush() == []


def test_waits_on_ambiguous_abbreviation_then_decides():
    splitter = SentenceSplitter()
    assert splitter.push("It ends at 5 p.m. ") == []
    assert splitter.push("and") == []
    assert splitter.push(" then. ") == [Sentence("It ends at 5 p.m. and then.", 0)]


def test_index_counts_in_emission_order_and_restarts_after_flush():
    splitter = SentenceSplitter()
    first = splitter.push("A one. B two. C thr") + splitter.flush()
    assert [(s.index, s.text) for s in first] == [(0, "A one."), (1, "B two."), (2, "C thr")]
    assert splitter.flush() == []
    again = splitter.push("Next turn. ") + splitter.flush()
    assert again == [Sentence("Next turn.", 0)]


def test_reset_drops_buffer_and_restarts_stream():
    splitter = SentenceSplitter(first_clause_min_s=5 / 15)
    assert [s.text for s in splitter.push("Hello, world. Pending, text")] == ["Hello,", "world."]
    splitter.reset()
    assert splitter.push("Fresh start, here. ") == [
        Sentence("Fresh start,", 0),
        Sentence("here.", 1),
    ]


def test_accepts_text_delta():
    splitter = SentenceSplitter()
    assert splitter.push(TextDelta("Hi there. ")) == [Sentence("Hi there.", 0)]


def test_first_comma_needs_min_chars_and_only_first_piece():
    text = "One two three, four five six, seven eight nine."
    assert [s.text for s in split_once(text, first_clause_min_s=14 / 15)] == [
        "One two three,",
        "four five six, seven eight nine.",
    ]
    assert [s.text for s in split_once(text, first_clause_min_s=15 / 15)] == [
        "One two three, four five six,",
        "seven eight nine.",
    ]
    assert [s.text for s in split_once(text, first_clause_min_s=0 / 15)] == [text]
    assert [s.text for s in split_once(text, first_clause_min_s=100 / 15)] == [text]
    # After a full first sentence, commas no longer split.
    later = "Ok. One two three, four five six, seven eight nine."
    assert [s.text for s in split_once(later, first_clause_min_s=5 / 15)] == [
        "Ok.",
        "One two three, four five six, seven eight nine.",
    ]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(
        "".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 12))) for _ in range(n)
    )


@pytest.mark.parametrize("max_chars", [20, 37, 80, 220])
def test_force_split_never_breaks_a_word(max_chars):
    rng = random.Random(max_chars)
    text = _words(rng, 300)
    sentences = split_once(text, max_sentence_chars=max_chars, first_clause_min_s=0 / 15)
    assert len(sentences) > 1
    assert all(0 < len(s.text) <= max_chars for s in sentences)
    assert " ".join(s.text for s in sentences).split() == text.split()
    # Each piece is as long as the words allow: the next word would not have fitted.
    for piece, following in zip(sentences, sentences[1:], strict=False):
        assert len(piece.text) + 1 + len(following.text.split()[0]) > max_chars


def test_force_split_prefers_a_natural_end_within_the_limit():
    text = "Short one. " + "word " * 60
    sentences = split_once(text, max_sentence_chars=50)
    assert sentences[0].text == "Short one."
    assert all(len(s.text) <= 50 for s in sentences)


def test_force_split_cjk_at_limit_without_commas():
    text = "中文字符" * 30
    sentences = split_once(text, max_sentence_chars=25)
    assert [len(s.text) for s in sentences] == [25, 25, 25, 25, 20]
    assert "".join(s.text for s in sentences) == text


@pytest.mark.parametrize(
    "options",
    [
        {"first_clause_min_s": -1},
        {"max_sentence_chars": 19},
        {"max_sentence_chars": 0},
        {"max_sentence_chars": 50.0},
        {"first_clause_min_s": "2"},
        {"first_clause_min_s": True},
    ],
)
def test_invalid_options_raise(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        SentenceSplitter(**options)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        SentenceSplitter(30, 220)  # type: ignore[misc]


def test_first_clause_threshold_is_speech_time_in_both_languages():
    # 2 s: ~30 characters of English, but only ~8 Han characters of Chinese.
    assert speech_seconds("Well, this is a long enough opening") == pytest.approx(35 / 15)
    assert speech_seconds("你好你好你好你好，") == pytest.approx(8 / 4)  # the comma is free
    en = "Short start here, then the rest of it follows."
    assert [s.text for s in split_once(en, first_clause_min_s=2.0)] == [en]  # 17 chars: 1.1 s
    zh = "今天的天气非常好呢，我们出去走走吧。"
    assert [s.text for s in split_once(zh, first_clause_min_s=2.0)] == [
        "今天的天气非常好呢，",  # 9 characters: 2.25 s, spoken as soon as English would be
        "我们出去走走吧。",
    ]
    assert [s.text for s in split_once("今天，天气非常好。", first_clause_min_s=2.0)] == [
        "今天，天气非常好。"  # 今天 alone is half a second: no cut
    ]
