# ruff: noqa: RUF001, RUF003 (look-alike characters on purpose: case folding is about them)
"""Pre-tokenizer regexes on which Oniguruma (Hugging Face's engine) and the native path's
engine could disagree, against Hugging Face ``tokenizers`` itself: line anchors, word and POSIX
classes, Unicode properties, case folding, escapes, repetitions, flags and Oniguruma-only
syntax. For each, the native ``TextTokenizer`` either refuses the file (and Hugging Face is used
instead) or gives Hugging Face's ids, on fixed and hypothesis-generated text; then the same for
hypothesis-generated patterns built from those constructs. The patterns it must read natively
are checked to be read, so refusing everything can not pass.

The tokenizer is ``text_families.split_then_bytes``: its ids show where every piece starts, so
a different split gives different ids."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from text_families import LLAMA3_PATTERN, QWEN2_PATTERN, split_then_bytes
from zip2zip_tokenizers import TextTokenizer, UnsupportedTokenizerError

DEEPSEEK_PATTERN = (
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
)
O200K_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
    r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
    r"[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

#: Patterns the native path reads exactly (Oniguruma means the same by them).
NATIVE = [
    LLAMA3_PATTERN,
    QWEN2_PATTERN,
    DEEPSEEK_PATTERN,
    O200K_PATTERN,
    r"^\s+|\S+$",
    r"^.|.$",
    r"^",
    r"$",
    r"$\n",
    r"\n$",
    r"(?:^|a)b",
    r"^(?:ab|a)",
    r"\Aa|a\z",
    r"\p{L}+|\p{N}+|\p{P}|\p{S}|\p{Z}|\p{C}|\p{M}",
    r"\P{L}+",
    r"[\p{Lu}\p{Lt}]+|[\p{Ll}\p{Lo}]+",
    r"[\p{L}&&\p{Lu}]+",
    r"[a-z&&[^aeiou]]+",
    r"[^[^a]]+|[b[^\n]]",
    r"\d+|\D",
    r"[^\S\n]+",
    r"\s+",
    r".+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d|k)",
    r"(?i:'S|K)",
    r"(?i:s)s|s(?i:s)|(?i:s)x(?i:s)",
    r"a{,2}",
    r"a{2,3}?",
    r"a{2,}?b",
    r"x*?y|x+?",
    r"(?:a|b)+",
    r"(?<n>a)b",
    r"[]a]+",
    r"[a-]+",
    r"a|",
    r"|a",
    r"\x41|\x{e9}|\u00e9|\v|\a|\t",
    r"\-|\.|\^|\$",
]

#: Patterns on which the engines differ, or might: the native path must refuse them or agree.
OTHERS = [
    r"\n^",
    r"\n^|b",
    r"x*^a",
    r"(?:a|\n)+^",
    r"a\Z",
    r"\w+",
    r"\W+",
    r"[\w]+",
    r"\b",
    r"\B.",
    r"[[:alpha:]]+",
    r"[[:^alpha:]]",
    r"\pL",
    r"\p{Greek}",
    r"\p{Han}+",
    r"\p{^L}",
    r"\p{Any}",
    r"\p{LC}",
    r"\p{Letter}",
    r"\p{l}",
    r"\h+",
    r"\H",
    r"\o{101}",
    r"\R",
    r"\X",
    r"\G.",
    r"\K",
    r"a++",
    r"a*+a",
    r"(?>a+)b",
    r"(?i)ss",
    r"(?i:ss)",
    r"(?i:st|fi)",
    r"(?i:s(?:t))",
    r"(?i:é)",
    r"(?i:ß)",
    r"(?i:[a-z]+)",
    r"(?i:[^k])",
    r"(?i:s+)",
    r"(?i:s{2})",
    r"(?i:\x73s)",
    r"(?i)k",
    r"ab(?i)c|def",
    r"(?m).+",
    r"(?x)a b",
    r"\U00000041",
    r"\e",
    r"\cA",
    r"\0",
    r"\ ",
    r"\i",
    r"a{2}?",
    r"a{2}?b",
    r"a{2}+",
    r"a{ 2}",
    r"a{2 ,3}",
    r"a{1,2}{2}",
    r"a{100000}",
    r"(|a)*",
    r"(a|)*",
    r"(a*)*b",
    r"(?:a?)+",
    r"(?:^a)+",
    r"x{",
    r"\Q.\E",
    r"(?#c)a",
    r"[^]a]+",
    r"\<a",
]

#: Characters where the engines' definitions part: line ends, word characters, case folds
#: (ſ and the Kelvin sign fold to s and k; ß, ẞ, ﬆ, ﬁ fold to two letters), scripts, numbers.
_CHARS = list(
    "abstfikKSTFIeUxyzAB019_'-.^${}[]]\n\r\t\u3000\x0b\x85\u2028 "
    "ſ\u212aßẞﬆﬅﬁİıé\u0301²٣ⅫⒶ\u200d中〆\u0342Ωω"
)
_TEXT = st.lists(st.sampled_from(_CHARS), max_size=16).map("".join)
_FIXED = [
    "",
    "a",
    "\n",
    "a\nb\n",
    "a\n",
    "\na\n\n",
    "a\r\nb\rc",
    "ab ab\nba",
    "aaaa aab b",
    "ss SS ß ẞ ﬆ st ſt ﬁ",
    "'s 'S 'ſ 'T 'K '\u212a 'LL",
    "a²b_c٣dⅫe\u200dfⒶg",
    "Ωω中〆\u0342e\u0301",
    "xxy xy y",
    "{x{ a{2} }",
]


@cache
def _pair(pattern: str) -> tuple[TextTokenizer | None, Any]:
    """The native tokenizer (``None`` when it refuses the pattern) and Hugging Face's."""
    from tokenizers import Tokenizer

    text = split_then_bytes(pattern)
    hf = Tokenizer.from_str(text)
    try:
        return TextTokenizer(text), hf
    except UnsupportedTokenizerError:
        return None, hf


def _assert_same_or_refused(pattern: str, texts: list[str]) -> None:
    ours, hf = _pair(pattern)
    if ours is None:
        return
    expected = [e.ids for e in hf.encode_batch_fast(texts, add_special_tokens=False)]
    for text, want, have in zip(texts, expected, ours.encode_batch(texts, False), strict=True):
        assert have.tolist() == want, f"{pattern!r} on {text!r}"


@pytest.mark.parametrize("pattern", NATIVE)
def test_patterns_oniguruma_reads_alike_are_read_natively(pattern: str) -> None:
    assert _pair(pattern)[0] is not None
    _assert_same_or_refused(pattern, _FIXED)


@pytest.mark.parametrize("pattern", OTHERS)
def test_other_patterns_are_refused_or_give_hf_ids(pattern: str) -> None:
    _assert_same_or_refused(pattern, _FIXED)


@pytest.mark.parametrize("pattern", NATIVE + OTHERS)
@settings(max_examples=25, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=20))
def test_generated_text_gives_hf_ids_or_the_pattern_is_refused(
    pattern: str, texts: list[str]
) -> None:
    _assert_same_or_refused(pattern, texts)


#: Pieces of generated patterns: atoms where the engines could part, and quantifiers.
_ATOMS = st.sampled_from(
    [
        *("a", "b", "s", "t", "f", "k", "S", "'", "é", "ß", " ", ".", "^", "$", "[ab]"),
        *(r"\n", r"\r", r"\t", r"\s", r"\S", r"\d", r"\w", r"\b", r"\A", r"\z", r"\x61", r"\x{e9}"),
        *(r"\p{L}", r"\p{Lu}", r"\P{L}", r"[^a\n]", r"[\p{L}&&[^a]]", "[[:alpha:]]"),
    ]
)
_QUANTIFIERS = st.sampled_from(
    ["", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,3}", "{,2}", "{2,}", "{2}?", "{1,2}?", "*+"]
)
_PATTERN = st.recursive(
    st.tuples(_ATOMS, _QUANTIFIERS).map("".join),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map("".join),
        st.tuples(st.lists(inner, min_size=1, max_size=3).map("|".join), _QUANTIFIERS).map(
            lambda group: f"(?:{group[0]}){group[1]}"
        ),
        st.text(alphabet="'stfikSTlLxy", min_size=1, max_size=3).map(lambda s: f"(?i:{s})"),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(
    pattern=st.lists(_PATTERN, min_size=1, max_size=3).map("|".join),
    texts=st.lists(_TEXT, min_size=1, max_size=10),
)
def test_generated_patterns_are_refused_or_give_hf_ids(pattern: str, texts: list[str]) -> None:
    try:
        _pair(pattern)
    except Exception:  # Oniguruma refuses the pattern: Hugging Face can not load the file
        assume(False)
    _assert_same_or_refused(pattern, texts)


def test_refusals_name_the_construct() -> None:
    for pattern, why in [
        (r"\n^", "^ after a character"),
        (r"\w+", r"\w"),
        (r"(?i:ss)", "ligature"),
        (r"a{2}?", "optional, not lazy"),
        (r"(a|)*", "can match empty"),
    ]:
        with pytest.raises(UnsupportedTokenizerError, match=f"regex branch .*{re.escape(why)}"):
            TextTokenizer(split_then_bytes(pattern))
