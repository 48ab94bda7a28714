"""Streaming sentence splitter for LLM output, English and Chinese."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from actors.core.language import detect_language
from actors.core.messages import Sentence, TextDelta

CJK_ENDERS = "。！？；…"
ENDERS = ".!?;" + CJK_ENDERS
CLOSERS = "\"'”’)]」』）》】"
OPENERS = "\"'“‘([「『（《【"
CJK_COMMAS = "，、："
COMMAS = ",:" + CJK_COMMAS
# Abbreviations that never end a sentence (titles are case-sensitive: "ms" may mean milliseconds).
TITLES = frozenset({"Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Jr", "Sr"})
ABBREVIATIONS = frozenset({"vs", "e.g", "i.e", "u.s", "u.k", "approx"})
# These often close a sentence: they end one only when the next word is capitalised.
FINAL_ABBREVIATIONS = frozenset({"etc", "a.m", "p.m"})
# These are abbreviations only before a number: "No. 5", "Fig. 3".
NUMBER_ABBREVIATIONS = frozenset({"No", "Nos", "Fig", "fig"})
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, J.R.R
_PREV_INITIAL = re.compile(r"(?:^|\s)[" + re.escape(OPENERS) + r"]*[A-Z]\.$")


# Rough speaking rates for the first-clause rule: about 15 characters a second of English at
# 165 wpm, about 4 Han characters (syllables) a second of Mandarin.
LATIN_CHARS_PER_S = 15.0
CJK_CHARS_PER_S = 4.0


def speech_seconds(text: str) -> float:
    """Roughly how long ``text`` takes to say: Han (and kana, Hangul) characters are
    syllables, everything else counts at English's character rate."""
    cjk = [ch for ch in text if _is_cjk(ch)]
    spoken = sum(1 for ch in cjk if unicodedata.category(ch)[0] not in "PZ")  # not 。，or space
    return spoken / CJK_CHARS_PER_S + (len(text) - len(cjk)) / LATIN_CHARS_PER_S


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3000 <= o <= 0x30FF  # CJK punctuation, kana
        or 0x3400 <= o <= 0x9FFF  # CJK ideographs
        or 0xAC00 <= o <= 0xD7AF  # Hangul
        or 0xF900 <= o <= 0xFAFF
        or 0xFF00 <= o <= 0xFFEF  # full-width forms
    )


class SentenceSplitter:
    """``TextDelta -> Sentence``: cut a streamed reply into speakable sentences.

    ``push`` returns every sentence known to have ended; ``flush`` ends the stream and
    returns the rest. The output does not depend on how the text was chopped into
    deltas: where a character is ambiguous ("3." may become "3.14") the splitter waits
    for the next character(s) and decides then.

    Rules: enders ``. ! ? ; 。 ！ ？ ； …`` and newline; runs of enders stay together and
    closing quotes/brackets stay with their sentence. ASCII enders need whitespace, the
    end of text or a CJK character after them; CJK enders need nothing. A single ``.``
    does not end a sentence after a fixed list of abbreviations (Mr., e.g., U.S., ...),
    after a list number at the start of a line ("1. First"), or between initials
    ("J. R. R. Tolkien"). ``etc.``, ``a.m.`` and ``p.m.`` end a sentence only when the
    next word is capitalised. Only the first piece of a stream may end at a comma
    (``, ， 、 : ：``), once it takes ``first_clause_min_s`` to say (``speech_seconds``;
    0: never), so speech starts sooner, as soon in Chinese as in English. Text longer than
    ``max_sentence_chars`` with no end is cut at the last space before the limit; CJK text at
    the last comma in the second half of the window, else at the limit.

    ``language`` and ``voices`` (a session's choices) label the sentences: each names
    ``language`` (None: left to its text), and ``voices[its language]`` as its voice, if any.
    """

    def __init__(
        self,
        *,
        first_clause_min_s: float = 2.0,
        max_sentence_chars: int = 220,
        language: str | None = None,
        voices: Mapping[str, str] | None = None,
    ):
        if isinstance(first_clause_min_s, bool) or not isinstance(first_clause_min_s, int | float):
            raise ValueError(f"first_clause_min_s must be a number, got {first_clause_min_s!r}")
        if first_clause_min_s < 0:
            raise ValueError(f"first_clause_min_s must be >= 0, got {first_clause_min_s!r}")
        if not isinstance(max_sentence_chars, int) or isinstance(max_sentence_chars, bool):
            raise ValueError(f"max_sentence_chars must be an int, got {max_sentence_chars!r}")
        if max_sentence_chars < 20:
            raise ValueError(f"max_sentence_chars must be >= 20, got {max_sentence_chars!r}")
        self._clause_min_s = float(first_clause_min_s)
        self._max = max_sentence_chars
        self._language = language
        self._voices = dict(voices or {})
        self.reset()

    def reset(self) -> None:
        """Drop buffered text and start a new stream (barge-in, new turn)."""
        self._buf = ""
        self._index = 0
        self._line_start = True

    def push(self, delta: str | TextDelta) -> list[Sentence]:
        """Add a delta (a ``TextDelta`` or its plain text); return the sentences it ends."""
        self._buf += delta.text if isinstance(delta, TextDelta) else delta
        return self._drain(final=False)

    def flush(self) -> list[Sentence]:
        """End of stream: emit what is left; the next ``push`` starts a new stream at 0."""
        out = self._drain(final=True)
        self.reset()
        return out

    def _drain(self, final: bool) -> list[Sentence]:
        out: list[Sentence] = []
        while (cut := self._find_cut(final)) is not None:
            text = self._buf[:cut].strip()
            self._buf = self._buf[cut:]
            self._line_start = False
            if text:
                out.append(self._sentence(text))
                self._index += 1
        return out

    def _sentence(self, text: str) -> Sentence:
        if not self._language and not self._voices:
            return Sentence(text, self._index)
        voice = self._voices.get(self._language or detect_language(text))
        return Sentence(text, self._index, language=self._language, voice=voice)

    def _long_enough(self, clause: str) -> bool:
        # A hair of slack: thresholds written as a character count (n / 15) meet exactly.
        return 0 < self._clause_min_s <= speech_seconds(clause) + 1e-9

    def _find_cut(self, final: bool) -> int | None:
        """End offset of the next piece, or None to wait for more text."""
        buf, n = self._buf, len(self._buf)
        s = n - len(buf.lstrip())
        if s == n:
            return None
        line_start = self._line_start or "\n" in buf[:s]
        limit = s + self._max
        i = s
        while i < min(n, limit):
            c = buf[i]
            if c == "\n":
                return i
            if c in ENDERS:
                r = i
                while r < n and buf[r] in ENDERS:
                    r += 1
                j = r
                while j < n and buf[j] in CLOSERS:
                    j += 1
                if j == n and not final:
                    return None  # the run, its closers or what follows may continue
                verdict = self._ends(buf, s, i, r, j, line_start, final)
                if verdict is None:
                    return None
                if verdict:
                    return j
                i = j
                continue
            if c in COMMAS and self._index == 0 and self._long_enough(buf[s : i + 1]):
                if c in CJK_COMMAS or (i + 1 == n and final):
                    return i + 1
                if i + 1 == n:
                    return None
                if buf[i + 1].isspace():
                    return i + 1
            i += 1
        if n > limit:
            return self._force_cut(buf, s)
        return n if final else None

    def _ends(self, buf, s, i, r, j, line_start, final) -> bool | None:
        """Does the ender run ``buf[i:r]`` (closers up to ``j``) end a sentence? None: wait."""
        run = buf[i:r]
        if any(ch in CJK_ENDERS for ch in run):
            return True
        if j < len(buf) and not (buf[j].isspace() or _is_cjk(buf[j])):
            return False  # 3.14, a.b@c.uk, example.com/x?y=1
        if run != ".":
            return True
        k = i
        while k > s and not buf[k - 1].isspace():
            k -= 1
        token = buf[k:i].lstrip(OPENERS)
        if k == s and line_start and token.isdigit() and len(token) <= 3:
            return False  # numbered list item
        lower = token.lower()
        if lower in FINAL_ABBREVIATIONS:
            ahead = _peek(buf, j, 1, final)
            return None if ahead is None else (not ahead or ahead.isupper())
        if token in TITLES or lower in ABBREVIATIONS or _DOTTED.fullmatch(token):
            return False
        if token in NUMBER_ABBREVIATIONS:
            ahead = _peek(buf, j, 1, final)
            return None if ahead is None else not ahead.isdigit()
        if len(token) == 1 and token.isupper():  # initials: "J. R. R. Tolkien"
            if _PREV_INITIAL.search(buf[s:k].rstrip()):
                return False
            ahead = _peek(buf, j, 2, final)
            if ahead is None:
                return None
            return not (len(ahead) == 2 and ahead[0].isupper() and ahead[1] == ".")
        return True

    def _force_cut(self, buf: str, s: int) -> int:
        w, limit = buf[s : s + self._max + 1], self._max
        space = max((i for i in range(1, limit + 1) if w[i].isspace()), default=0)
        cjk = max((i for i in range(1, limit + 1) if _is_cjk(w[i - 1]) or _is_cjk(w[i])), default=0)
        if cjk > space:  # CJK text runs up to the limit
            comma = max((i for i in range(limit // 2, limit + 1) if w[i - 1] in COMMAS), default=0)
            return s + (comma if comma > space else cjk)
        return s + (space or limit)


def _peek(buf: str, j: int, count: int, final: bool) -> str | None:
    """The next ``count`` non-space-led characters after ``j``; None if not yet known."""
    k = j
    while k < len(buf) and buf[k].isspace():
        k += 1
    ahead = buf[k : k + count]
    return None if len(ahead) < count and not final else ahead
