"""The other ways to run the same transformation write the same bytes as the local engine:
Ray Data on a local 2-CPU cluster, and ``datasets.Dataset.map``; shards load back with
``datasets.load_dataset("parquet")`` and through the PyTorch reader."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
from zip2zip_tokenizers.data import (
    COLUMNS,
    BadRecordError,
    Hypertokenizer,
    datasets_map_function,
    preprocess,
    verify,
    write_shard,
)
from zip2zip_tokenizers.data.shards import shard_origin

WINDOW = 80


@pytest.fixture(scope="module")
def hypertokenizer() -> Hypertokenizer:
    return Hypertokenizer.from_pretrained(deepseek_dir(), window=WINDOW, **TOKENIZER_SETTINGS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_all_formats(tmp_path_factory.mktemp("corpus"), real_texts(16, 4000))


def run_local(inputs: list[Path], output: Path, **kwargs: object) -> None:
    options: dict[str, object] = {"shard_bytes": 12_000, **TOKENIZER_SETTINGS, **kwargs}
    preprocess(
        deepseek_dir(), [str(p) for p in inputs], output, window=WINDOW, progress=False,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_engine_writes_the_same_bytes(
    ray_cluster: None, corpus: dict[str, Path], tmp_path: Path
) -> None:
    inputs = [corpus["jsonl"], corpus["jsonl.zst"], corpus["parquet"]]
    run_local(inputs, tmp_path / "local")
    run_local(inputs, tmp_path / "ray", engine="ray", workers=2)
    local, ray = read_dir_bytes(tmp_path / "local"), read_dir_bytes(tmp_path / "ray")
    assert len(local) > 3 and local == ray
    assert verify(tmp_path / "ray", [str(p) for p in inputs])["complete"]


def test_ray_engine_stops_on_a_bad_record_under_strict(ray_cluster: None, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"text": null}\n', encoding="utf-8")
    with pytest.raises(BadRecordError, match=r"bad\.jsonl:2"):
        run_local([path], tmp_path / "out", engine="ray", strict=True)


def test_datasets_map_gives_the_same_columns_and_bytes(
    hypertokenizer: Hypertokenizer, tmp_path: Path
) -> None:
    import datasets

    texts = real_texts(10, 3000)
    jsonl = write_jsonl(tmp_path / "docs.jsonl", texts)
    run_local([jsonl], tmp_path / "local", shard_bytes=1 << 30)  # one shard
    (local_shard,) = sorted((tmp_path / "local").glob("*.parquet"))

    dataset = datasets.load_dataset("json", data_files=str(jsonl), split="train")
    function = datasets_map_function(hypertokenizer, source=str(jsonl))
    windows = dataset.map(
        function, batched=True, batch_size=4, with_indices=True, num_proc=2,
        remove_columns=dataset.column_names,
    )  # fmt: skip
    assert windows.column_names == list(COLUMNS)
    table = pa.concat_tables(windows.with_format("arrow").iter(batch_size=10_000))
    # The same rows, under the origin the pipeline marks its own shards with.
    write_shard(table, tmp_path / "from-datasets.parquet", origin=shard_origin(local_shard))
    assert (tmp_path / "from-datasets.parquet").read_bytes() == local_shard.read_bytes()

    loaded = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "local" / "*.parquet"), split="train"
    )
    assert loaded.num_rows == pq.read_metadata(local_shard).num_rows
    assert loaded[0]["input_ids"] == windows[0]["input_ids"]
    with pytest.raises(BadRecordError, match="row 1"):
        function({"text": ["ok", None]}, [0, 1])


def test_torch_reader_splits_shards_across_workers_and_ranks(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    from zip2zip_tokenizers.data.torch_dataset import ShardDataset

    run_local([corpus["jsonl"]], tmp_path / "out", shard_bytes=4000)
    every = [
        (row["source_record"], row["window_index"])
        for path in sorted((tmp_path / "out").glob("*.parquet"))
        for row in pq.read_table(path).select(["source_record", "window_index"]).to_pylist()
    ]
    assert len(every) == len(set(every))
    seen: list[tuple[int, int]] = []
    for rank in range(2):
        dataset = ShardDataset(tmp_path / "out", rank=rank, world_size=2, shuffle=True, seed=3)
        loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2)
        for item in loader:
            assert item["input_ids"].dtype == torch.int64
            assert item["loss_mask"].shape == item["input_ids"].shape
            seen.append((item["source_record"], item["window_index"]))
    assert sorted(seen) == sorted(every)
    first = [x["source_record"] for x in ShardDataset(tmp_path / "out", shuffle=True)]
    dataset = ShardDataset(tmp_path / "out", shuffle=True)
    dataset.set_epoch(1)
    assert sorted(first) == sorted(x["source_record"] for x in dataset)
    assert first != [x["source_record"] for x in dataset]
    assert os.environ.get("RANK") is None
