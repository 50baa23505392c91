"""The data pipeline against hostile or careless input: every fault gives a typed error that names
the file and the place in it (or a counted bad record with its ``file:line``), the CLI answers
``error: ...`` with exit code 2, and a refused run changes nothing in the output directory."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from data_corpus import TOKENIZER_SETTINGS, deepseek_dir, real_texts, write_jsonl
from zip2zip_tokenizers.cli import main
from zip2zip_tokenizers.data import (
    BadRecordError,
    DataError,
    Hypertokenizer,
    InputError,
    ResumeError,
    VerifyError,
    preprocess,
    verify,
)

WINDOW = 64
SHARD_BYTES = 6000


@pytest.fixture(scope="module")
def hypertokenizer() -> Hypertokenizer:
    return Hypertokenizer.from_pretrained(deepseek_dir(), window=WINDOW, **TOKENIZER_SETTINGS)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return real_texts(8, 3000)


Run = Callable[..., dict[str, object]]


@pytest.fixture
def run(hypertokenizer: Hypertokenizer) -> Run:
    def run(inputs: list[Path], output: Path, **kwargs: object) -> dict[str, object]:
        options: dict[str, object] = {"shard_bytes": SHARD_BYTES, "progress": False, **kwargs}
        return preprocess(hypertokenizer, [str(p) for p in inputs], output, **options)  # type: ignore[arg-type]

    return run


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones included) and its bytes."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def cli(*args: str) -> list[str]:
    return [
        "preprocess", "--tokenizer", deepseek_dir(), "--window", str(WINDOW),
        "--max-codebook-size", "256", "--max-subtokens", "4", "--workers", "1", "--no-progress",
        *args,
    ]  # fmt: skip


def assert_cli_error(capsys: pytest.CaptureFixture[str], argv: list[str], *names: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for name in names:
        assert name in err, err


# --- Data silently wrong or lost --------------------------------------------------------------


def test_shards_without_a_manifest_are_refused_and_left_alone(
    run: Run, texts: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts)
    other = write_jsonl(tmp_path / "b.jsonl", texts[::-1])
    out = tmp_path / "out"
    run([other], out)
    (out / "manifest.json").unlink()  # another run's shards, its manifest gone
    (out / "shard-00000-00007-00000.parquet").write_bytes(b"junk named like a shard")
    before = snapshot(out)
    with pytest.raises(ResumeError) as error:
        run([jsonl], out)
    message = str(error.value)
    assert str(out) in message
    assert "shard-00000-00000-00000.parquet" in message
    assert "shard-00000-00007-00000.parquet (not a readable Parquet file" in message
    assert snapshot(out) == before
    assert_cli_error(capsys, cli("--input", str(jsonl), "--output", str(out)), "shard-00000-00007-")
    assert snapshot(out) == before


def test_a_foreign_shard_in_an_unfinished_task_is_refused(
    run: Run, texts: list[str], tmp_path: Path
) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts)
    out = tmp_path / "out"
    run([jsonl], out)
    manifest = json.loads((out / "manifest.json").read_text())
    task = sorted(manifest["tasks"])[-1]
    shard = manifest["tasks"].pop(task)["shards"][0]["file"]
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))  # as if stopped before recording it
    # The same place filled by a run with other settings (another window).
    elsewhere = tmp_path / "elsewhere"
    narrow = Hypertokenizer.from_pretrained(
        deepseek_dir(), window=WINDOW // 2, **TOKENIZER_SETTINGS
    )
    preprocess(narrow, [str(jsonl)], elsewhere, shard_bytes=SHARD_BYTES, progress=False)
    if (elsewhere / shard).read_bytes() == (out / shard).read_bytes():
        pytest.fail("the two settings wrote the same shard")
    (out / shard).write_bytes((elsewhere / shard).read_bytes())
    before = snapshot(out)
    with pytest.raises(ResumeError, match=rf"{shard} \(written by another run\)"):
        run([jsonl], out)
    assert snapshot(out) == before
    # The shard this run itself wrote before the stop is adopted.
    run([jsonl], tmp_path / "reference")
    (out / shard).write_bytes((tmp_path / "reference" / shard).read_bytes())
    report = run([jsonl], out)
    assert report["complete"]
    assert verify(out)["complete"]


@pytest.mark.parametrize("cut", [0.5, 0.9])
@pytest.mark.parametrize("fmt", ["jsonl.zst", "jsonl.gz"])
def test_a_compressed_input_cut_short_is_an_error_naming_file_and_offset(
    run: Run, texts: list[str], tmp_path: Path, fmt: str, cut: float
) -> None:
    data = (json.dumps({"text": "a short document"}) + "\n").encode() * 400 + b"".join(
        (json.dumps({"text": text}) + "\n").encode() for text in texts
    )
    whole = zstandard.ZstdCompressor().compress(data) if fmt == "jsonl.zst" else gzip.compress(data)
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(whole[: int(len(whole) * cut)])
    out = tmp_path / "out"
    with pytest.raises(InputError) as error:
        run([path], out)
    message = str(error.value)
    assert message.startswith(f"{path}: {fmt} data broken after line ")
    assert "compressed byte" in message
    assert json.loads((out / "report.json").read_text())["complete"] is False


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("not.jsonl.zst", b'{"text": "plain JSON, not zstd"}\n', "Unknown frame descriptor"),
        ("not.jsonl.gz", b'{"text": "plain JSON, not gzip"}\n', "Not a gzipped file"),
        ("junk.parquet", b"PAR1 not really parquet", "not a readable Parquet file"),
    ],
)
def test_an_input_that_is_not_its_format_is_an_input_error(
    run: Run,
    tmp_path: Path,
    name: str,
    content: bytes,
    says: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=says) as error:
        run([path], tmp_path / "out")
    assert str(error.value).startswith(f"{path}: ")
    assert_cli_error(capsys, cli("--input", str(path), "--output", str(tmp_path / "o")), str(path))


def test_only_this_outputs_own_temporary_files_are_removed(
    run: Run, texts: list[str], tmp_path: Path
) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts)
    out = tmp_path / "out"
    out.mkdir()
    strangers = {
        ".notes.tmp": b"a user's file",
        ".shard-00000-00000.parquet.1234.tmp": b"not ours: no run id of this output",
        ".report.txt.0123456789ab.zip2zip-tmp": b"our naming, but no run of this output",
    }
    for name, data in strangers.items():
        (out / name).write_bytes(data)
    run([jsonl], out)
    for name, data in strangers.items():
        assert (out / name).read_bytes() == data
    # A temporary file of a run of this output (killed while writing) is cleaned up.
    manifest = json.loads((out / "manifest.json").read_text())
    (run_id,) = manifest["runs"]
    stale = out / f".shard-00000-00000.parquet.{run_id}.zip2zip-tmp"
    stale.write_bytes(b"half a shard")
    run([jsonl], out)
    assert not stale.exists()
    assert sorted(p.name for p in out.glob(".*")) == sorted(strangers)


# --- One bad record never stops a corpus ------------------------------------------------------


def test_a_lone_surrogate_and_other_unusable_json_are_counted_bad_records(
    run: Run, tmp_path: Path
) -> None:
    lines = [
        json.dumps({"text": "def f(x):\n    return x\n"}),
        '{"text": "a\\ud800b"}',
        '{"text": "fine \\ud83d\\ude00 pair"}',
        '{"text": "ok", "n": ' + "9" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        '{"text": "\\udfff"}',
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    report = run([path], out)
    counts = report["files"][str(path)]  # type: ignore[index]
    assert counts["documents"] == 2 and counts["bad_records"] == 4
    locations = counts["bad_locations"]
    assert locations[0] == (
        f"{path}:2: field 'text' is not valid Unicode (lone surrogate \\ud800 at character 1)"
    )
    assert [loc.split(": ")[0] for loc in locations] == [f"{path}:{n}" for n in (2, 4, 5, 6)]
    shards = {name: data for name, data in snapshot(out).items() if name.startswith("shard-")}
    tasks = json.loads((out / "manifest.json").read_text())["tasks"]
    again = run([path], out)  # resuming a finished run: nothing to redo, no crash
    assert again["complete"] and again["totals"] == report["totals"]
    assert {
        name: data for name, data in snapshot(out).items() if name.startswith("shard-")
    } == shards
    assert json.loads((out / "manifest.json").read_text())["tasks"] == tasks
    with pytest.raises(BadRecordError) as error:
        run([path], tmp_path / "strict", strict=True)
    assert error.value.location == f"{path}:2"


def test_a_dictionary_encoded_parquet_column_is_read(
    run: Run, texts: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "categorical.parquet"
    column = pa.array([*texts, texts[0], None]).dictionary_encode()
    pq.write_table(pa.table({"text": column}), path, row_group_size=4)
    assert pa.types.is_dictionary(pq.read_schema(path).field("text").type)
    report = run([path], tmp_path / "out")
    counts = report["files"][str(path)]  # type: ignore[index]
    assert counts["documents"] == len(texts) + 1
    assert counts["bad_locations"] == [f"{path}:row {len(texts) + 1}: field 'text' is null"]
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"text": [*texts, texts[0], None]}), plain, row_group_size=4)
    other = run([plain], tmp_path / "plain-out")["totals"]
    assert {**report["totals"], "bad_records": 0} == {**other, "bad_records": 0}  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("column", "field", "says"),
    [
        (pa.array([{"text": "a b"}] * 3), "meta", "column 'meta' is struct<text: string>, not"),
        (pa.array([{"text": "a b"}] * 3), "meta.text", "no column 'meta.text' (columns: meta:"),
        (pa.array([{"text": "a b"}] * 3), "text", "no column 'text' (columns: meta: struct"),
        (pa.array([["a", "b"]] * 3), "meta", "column 'meta' is list<element: string>, not"),
        (pa.array([1, 2, 3]), "meta", "column 'meta' is int64, not a column of strings"),
        (pa.array([b"a", b"b", b"c"]), "meta", "column 'meta' is binary, not"),
    ],
    ids=["struct", "dotted-path", "leaf-name", "list", "int", "binary"],
)
def test_a_parquet_text_field_that_is_no_string_column_names_the_column_and_its_type(
    run: Run,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    column: pa.Array,
    field: str,
    says: str,
) -> None:
    """A field inside a struct is not read (its leaf name is no column either); a column that
    is not text is refused up front, not read as a bad record per row."""
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"meta": column, "id": [1, 2, 3]}), path)
    with pytest.raises(InputError) as error:
        run([path], tmp_path / "out", text_field=field)
    assert str(error.value).startswith(f"{path}: ") and says in str(error.value)
    argv = cli("--input", str(path), "--output", str(tmp_path / "o"), "--text-field", field)
    assert_cli_error(capsys, argv, str(path), says)


def test_an_unreadable_parquet_row_group_names_the_file_and_group(
    run: Run, texts: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "damaged.parquet"
    pq.write_table(pa.table({"text": texts * 2}), path, row_group_size=4, compression="zstd")
    chunk = pq.read_metadata(path).row_group(1).column(0)
    data = bytearray(path.read_bytes())
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start : start + 16] = b"\xff" * 16  # its first page header
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"row group 1 can not be read at row 4") as error:
        run([path], tmp_path / "out")
    assert str(error.value).startswith(f"{path}: ")


# --- Raw tracebacks: typed errors naming the file ---------------------------------------------


@pytest.mark.parametrize(
    ("manifest", "says"),
    [
        ([], "a JSON list, not an object"),
        (None, "a JSON NoneType, not an object"),
        ({"format": "zip2zip-shards", "version": 1}, "settings is a NoneType"),
        ("{not json", "not a valid manifest"),
    ],
)
def test_a_broken_manifest_is_a_resume_error_naming_it(
    run: Run,
    texts: list[str],
    tmp_path: Path,
    manifest: object,
    says: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts)
    out = tmp_path / "out"
    out.mkdir()
    raw = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (out / "manifest.json").write_text(raw)
    before = snapshot(out)
    for attempt in (lambda: run([jsonl], out), lambda: verify(out)):
        with pytest.raises(ResumeError, match=says) as error:
            attempt()
        assert str(error.value).startswith(f"{out / 'manifest.json'}: ")
    assert snapshot(out) == before
    assert_cli_error(capsys, ["verify", str(out)], str(out / "manifest.json"))


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        (("shards", 0, "file"), "../../elsewhere.parquet", r"\.shards\[0\]\.file is not a shard"),
        (("shards", 0, "windows"), -1, r"\.shards\[0\]\.windows is not a count"),
        (("task", "path"), "/elsewhere.jsonl", r"\.task\.path is not one of the inputs"),
        (("bad_records",), "3", r"\.bad_records is not a count"),
    ],
)
def test_a_tampered_manifest_entry_names_the_key(
    run: Run, texts: list[str], tmp_path: Path, key: tuple[object, ...], value: object, says: str
) -> None:
    out = tmp_path / "out"
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts)
    run([jsonl], out)
    manifest = json.loads((out / "manifest.json").read_text())
    task = sorted(manifest["tasks"])[0]
    place = manifest["tasks"][task]
    for step in key[:-1]:
        place = place[step]
    place[key[-1]] = value
    (out / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(out)
    for attempt in (lambda: verify(out), lambda: run([jsonl], out)):
        with pytest.raises(ResumeError, match=rf"manifest\.json: .*tasks\['{task}'\]{says}"):
            attempt()
    assert snapshot(out) == before


def shard_damages() -> list[tuple[str, Callable[[Path], None], str]]:
    def cut(shard: Path) -> None:
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])

    def junk(shard: Path) -> None:
        shard.write_bytes(b"not parquet at all")

    def other_columns(shard: Path) -> None:
        pq.write_table(pa.table({"input_ids": [[1, 2]]}), shard)

    def bad_ids(shard: Path) -> None:
        table = pq.read_table(shard)
        ids = [[10**9] * len(row) for row in table.column("input_ids").to_pylist()]
        column = pa.array(ids, pa.list_(pa.int32()))
        pq.write_table(table.set_column(0, "input_ids", column), shard)

    return [
        ("cut short", cut, "not a readable shard"),
        ("junk", junk, "not a readable shard"),
        ("other columns", other_columns, "not the shard schema"),
        ("undecodable ids", bad_ids, "do not decode"),
    ]


@pytest.mark.parametrize(("_", "damage", "says"), shard_damages())
def test_verify_raises_verify_error_for_a_damaged_shard(
    run: Run,
    texts: list[str],
    tmp_path: Path,
    _: str,
    damage: Callable[[Path], None],
    says: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    run([write_jsonl(tmp_path / "a.jsonl", texts)], out)
    shard = sorted(out.glob("shard-*.parquet"))[1]
    damage(shard)
    with pytest.raises(VerifyError, match=says) as error:
        verify(out)
    assert str(error.value).startswith(f"{shard}: ")
    assert_cli_error(capsys, ["verify", str(out)], str(shard))


def test_data_errors_are_zip2zip_errors() -> None:
    from zip2zip_tokenizers import Zip2ZipError

    for error in (InputError, ResumeError, VerifyError, BadRecordError):
        assert issubclass(error, DataError) and issubclass(error, Zip2ZipError)


# --- Process hygiene --------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_driver_is_killed(texts: list[str], tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts * 40)
    argv = cli("--input", str(jsonl), "--output", str(tmp_path / "out"), "--shard-mb", "0.05")
    argv[argv.index("--workers") + 1] = "2"
    driver = subprocess.Popen(
        [sys.executable, "-m", "zip2zip_tokenizers.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2:
        assert driver.poll() is None, "the run ended before its workers were seen"
        assert time.monotonic() < deadline, "no worker processes started"
        time.sleep(0.05)
        workers = children_of(driver.pid)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if alive(pid)], "workers outlived their driver"


def test_an_output_inside_an_input_directory_never_reads_itself(
    run: Run, texts: list[str], tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    jsonl = write_jsonl(corpus / "a.jsonl", texts)
    out = corpus / "out"
    first = run([corpus], out)
    assert [item["path"] for item in json.loads((out / "manifest.json").read_text())["inputs"]] == [
        str(jsonl)
    ]
    assert (out / "report.txt").exists()  # a .txt in the input directory: not an input
    again = run([corpus], out)  # resumes: same inputs, its own shards and report skipped
    assert again["totals"] == first["totals"]
    again = run([str(corpus / "**" / "*.*")], out)
    assert again["totals"] == first["totals"]
    with pytest.raises(InputError, match="inside the output directory"):
        run([out / "report.txt"], out)


def test_settings_a_ready_hypertokenizer_fixes_are_refused_not_ignored(
    run: Run, texts: list[str], tmp_path: Path
) -> None:
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts[:2])
    for option in ({"window": WINDOW + 1}, {"max_codebook_size": 64}, {"disable_digits": True}):
        with pytest.raises(DataError, match=f"{next(iter(option))} can not be changed"):
            run([jsonl], tmp_path / "out", **option)
    assert not (tmp_path / "out").exists()
    assert run([jsonl], tmp_path / "out", window=WINDOW)["complete"]


SETTINGS_RESUMED = "holds the output of a run with other settings"
SETTINGS_INVALID = r"manifest\.json: not a valid manifest: settings\.window has the wrong type"
NOT_CODEC = r"manifest\.json: settings\.config is not a codec config \({}"


@pytest.mark.parametrize(
    ("key", "value", "on_run", "on_verify"),
    [
        (("config", "max_subtokens"), "x", SETTINGS_RESUMED, NOT_CODEC.format("max_sub")),
        (
            ("config", "initial_vocab_size"),
            None,
            SETTINGS_RESUMED,
            NOT_CODEC.format("ini"),
        ),
        (("window",), "9", SETTINGS_INVALID, SETTINGS_INVALID),
    ],
)
def test_a_tampered_manifest_setting_is_a_data_error_naming_it(
    run: Run,
    texts: list[str],
    tmp_path: Path,
    key: tuple[str, ...],
    value: object,
    on_run: str,
    on_verify: str,
) -> None:
    out = tmp_path / "out"
    jsonl = write_jsonl(tmp_path / "a.jsonl", texts)
    run([jsonl], out)
    manifest = json.loads((out / "manifest.json").read_text())
    place = manifest["settings"]
    for step in key[:-1]:
        place = place[step]
    place[key[-1]] = value
    (out / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(out)
    with pytest.raises(DataError, match=on_run):
        run([jsonl], out)
    with pytest.raises(DataError, match=on_verify):
        verify(out)
    assert snapshot(out) == before
