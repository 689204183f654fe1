"""Word-level input features of the encoder-reading tasks, computed from the
text (not from SentencePiece pieces, whose split of a word depends on what
precedes it): whether a context word occurs in the question (answer; DrQA's
exact-match feature) and the shape of a word (tag-entities). The model adds a
learned embedding of each (ModelConfig.question_match, ModelConfig.word_shapes)."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# word-shape classes; id 0 means "no feature here" (not a word's first piece)
WORD_SHAPES = ("lower", "title", "upper", "mixed", "digit", "alphanumeric", "punctuation", "other")


def normalize_word(word: str) -> str:
    """Compatibility-normalised and case-folded, so "Café" (either way of
    writing the accent), "CAFÉ", "ｃａｆé" and "café" are the same word."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())


def _is_cjk(char: str) -> bool:
    """Chinese characters and Japanese kana: scripts without spaces between
    words, where each character counts as a word."""
    code = ord(char)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2EBEF
            or 0xF900 <= code <= 0xFAFF or 0x3040 <= code <= 0x30FF or 0xFF66 <= code <= 0xFF9F)


def _is_word_char(char: str) -> bool:
    # combining marks belong to the letter before them ("e" + U+0301 is one letter)
    return char.isalnum() or unicodedata.category(char).startswith("M")


_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")  # in ASCII, isalnum() is exactly this, and there are no marks or CJK


def find_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end): runs of letters, digits and combining marks; each
    Chinese character or kana is a word of its own."""
    if text.isascii():  # most text: one regular expression instead of a Python loop over characters
        return [(match.group(), match.start(), match.end()) for match in _ASCII_WORD.finditer(text)]
    words, start = [], None
    for index, char in enumerate(text + " "):
        if start is not None and (not _is_word_char(char) or _is_cjk(char) or _is_cjk(text[index - 1])):
            words.append((text[start:index], start, index))
            start = None
        if start is None and _is_word_char(char) and index < len(text):
            start = index
    return words


@lru_cache(maxsize=16)  # SQuAD asks about five questions of each context, one after the other
def normalized_words(text: str) -> tuple[tuple[str, int, int], ...]:
    """find_words(text), each word normalised (normalize_word)."""
    return tuple((normalize_word(word), start, end) for word, start, end in find_words(text))


def question_match_flags(question: str, context: str, spans: list[tuple[int, int]]) -> list[int]:
    """Per context piece (its character span in ``context``): 1 if a word it
    covers occurs in the question (normalised words), else 0. Every piece of a
    word shares the word's flag."""
    asked = {word for word, _, _ in normalized_words(question)}
    matched = [(start, end) for word, start, end in normalized_words(context) if word in asked]
    flags, first = [], 0
    for piece_start, piece_end in spans:
        while first < len(matched) and matched[first][1] <= piece_start:
            first += 1  # spans come in order, so earlier matches never count again
        # an empty span (the first bytes of a character spelled as bytes) sits at its character
        flags.append(int(first < len(matched) and matched[first][0] < max(piece_end, piece_start + 1)))
    return flags


def word_shape(word: str) -> str:
    """The casing/character class of a word, one of WORD_SHAPES."""
    word = unicodedata.normalize("NFKC", word)
    letters = [c for c in word if c.isalpha()]
    has_digit = any(c.isdigit() for c in word)
    if not letters:
        if has_digit:
            return "digit"  # 1876, $1, 3.5, 1,000
        if word and all(unicodedata.category(c).startswith(("P", "S")) for c in word):
            return "punctuation"
        return "other"
    if has_digit:
        return "alphanumeric"  # 3M, B2B, 2nd
    cased = [c for c in letters if c.isupper() or c.islower()]
    if not cased:
        return "other"  # scripts without case (Chinese, Arabic, ...)
    if all(c.islower() for c in cased):
        return "lower"
    if cased[0].isupper() and all(c.islower() for c in cased[1:]):
        return "title"  # also a lone capital: I, A
    if all(c.isupper() for c in cased):
        return "upper"  # NASA, U.K.
    return "mixed"  # iPhone, McDonald


def word_shape_id(word: str) -> int:
    """1 + the index of the word's shape (0 is kept for "no feature")."""
    return 1 + WORD_SHAPES.index(word_shape(word))
