"""A ``tokenizer.json`` whose pre-tokenizer regex is built to exhaust memory, against the
native text path: what can not run within the native path's bounds is refused at load with
``UnsupportedTokenizerError`` naming the bound (callers then keep Hugging Face's tokenizer and
log one line), and what loads gives Hugging Face's ids. Loading and encoding run in a child
process under a 2 GiB address-space limit, so an abort or a runaway allocation fails the test
instead of killing pytest or exhausting the machine."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from text_families import split_then_bytes
from zip2zip_tokenizers.native_text import from_json

#: Pre-tokenizer regexes (one ``Split`` stage each) that once crashed the process or that grow
#: an automaton past any fixed size.
HOSTILE = {
    # Two search slots per branch for every automaton state: about 13 GB, then 124 GB, at the
    # first encode.
    "10,000 one-word branches": ["|".join(f"w{i}" for i in range(10_000))],
    "30,000 one-word branches": ["|".join(f"w{i}" for i in range(30_000))],
    "3,000 branches with a Unicode class": ["|".join(rf"x{i}\d" for i in range(3_000))],
    "1,025 letter classes": [r"\p{L}" * 1025],
    "a letter class 1,000 times": [r"\p{L}{1000}"],
    "nested counted repetitions": [r"(?:\p{L}{100}){100}"],
    "a DFA of 2^31 states": [r"(a|b)*a(a|b){30}"],
    "three whitespace lookaheads": [r"\s+(?!\S)|a|\s+(?!\S)|b|\s+(?!\S)"],
    "eight stages that fit one by one": [r"\p{L}{40}"] * 8,
    # One level of recursion per stage for every piece: the first encode overflowed the stack.
    "20,000 stages": ["a"] * 20_000,
}
#: What a refusal must name: the bound that was exceeded.
BOUNDS = ("bytes allowed", "character classes", "more than 2 branches", "Split stages")

#: Enough text for a batch to run on the thread pool (whose threads have smaller stacks).
TEXTS = ["w12 w9999x w3", "x7" + "٣" * 3, "ab" * 3000, "a b  c\n\nd", "é" * 50, "banana" * 3000]

_CHILD = """
import json, sys
from zip2zip_tokenizers import TextTokenizer, UnsupportedTokenizerError
with open(sys.argv[1], encoding="utf-8") as f:
    case = json.load(f)
try:
    tokenizer = TextTokenizer(case["tokenizer"])
except UnsupportedTokenizerError as error:
    print(json.dumps({"refused": str(error)}))
else:
    ids = [row.tolist() for row in tokenizer.encode_batch(case["texts"], False)]
    print(json.dumps({"ids": ids}))
"""


def _limit_address_space() -> None:
    import resource

    two_gib = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (two_gib, two_gib))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux-specific")
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_regex_is_refused_at_load_or_encodes_as_hf(name: str, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer = split_then_bytes(*HOSTILE[name])
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"tokenizer": tokenizer, "texts": TEXTS}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(case)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_address_space,
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-600:])
    outcome = json.loads(result.stdout)
    if "refused" in outcome:
        message = outcome["refused"]
        assert any(bound in message for bound in BOUNDS), message[:300]
        assert len(message) < 600, "a long pattern is quoted by its start only"
        return
    hf = Tokenizer.from_str(tokenizer)
    assert outcome["ids"] == [e.ids for e in hf.encode_batch_fast(TEXTS, False)]


def test_a_refused_regex_falls_back_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="zip2zip_tokenizers"):
        assert from_json(split_then_bytes(r"\p{L}{1000}"), "hostile.json") is None
    lines = [r.getMessage() for r in caplog.records if r.name == "zip2zip_tokenizers"]
    assert len(lines) == 1
    assert lines[0].startswith("hostile.json: Hugging Face tokenizers used for text")
    assert "its automaton takes the tokenizer's regexes over the 10485760 bytes allowed" in lines[0]
