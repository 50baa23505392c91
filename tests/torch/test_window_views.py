"""Two recipe variants of issue 19 as training options: segmentation sampling (windows
re-segmented by a walk on their lattice that leaves the greedy path) and uncompressed replay
(windows read as base ids only, as a model without a codebook reads them)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import train_setup  # noqa: E402
from test_training_data import corpus, model_dir, small_train_command  # noqa: E402, F401
from zip2zip_tokenizers import CompressionConfig, Lattice, LZWCompressor  # noqa: E402
from zip2zip_tokenizers._core import InvalidArgumentError  # noqa: E402
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM  # noqa: E402
from zip2zip_tokenizers.torch.training import (  # noqa: E402
    Zip2ZipCollator,
    Zip2ZipTrainingArguments,
)
from zip2zip_tokenizers.torch.training.errors import InvalidTrainingArgumentError  # noqa: E402
from zip2zip_tokenizers.torch.training.segmentation_sampling import (  # noqa: E402
    SegmentationLattice,
    sample_segmentation,
)
from zip2zip_tokenizers.torch.training.window_views import (  # noqa: E402
    UNCOMPRESSED,
    ViewSettings,
    WindowViews,
)

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB = 12
DISABLED = 3


@st.composite
def codec_and_base(draw: Any) -> tuple[CompressionConfig, np.ndarray]:
    """A small codec (a disabled id among a few base ids, so entries repeat and grow long) and a
    base sequence."""
    config = CompressionConfig(
        VOCAB,
        draw(st.integers(0, 40)),
        draw(st.integers(1, 5)),
        disabled_ids=[DISABLED],
        pad_token_id=0,
    )
    base = draw(st.lists(st.integers(3, 6), min_size=0, max_size=120))
    return config, np.asarray(base, dtype=np.int64)


@settings(max_examples=60, deadline=None)
@given(codec_and_base())
def test_a_walk_that_never_leaves_is_the_greedy_encoding(
    case: tuple[CompressionConfig, np.ndarray],
) -> None:
    config, base = case
    lattice = SegmentationLattice(config, base)
    never = np.zeros(len(base), dtype=bool)
    walked = lattice.walk(never, np.zeros(len(base)))
    greedy = LZWCompressor(config).encode(base)
    assert walked.ids.tolist() == greedy.tolist()
    assert lattice.pieces_of(greedy).lengths.tolist() == walked.lengths.tolist()


@settings(max_examples=80, deadline=None)
@given(codec_and_base(), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_sampled_segmentations_are_valid_and_decode_to_the_base_ids(
    case: tuple[CompressionConfig, np.ndarray], dropout: float, seed: int
) -> None:
    config, base = case
    lattice = SegmentationLattice(config, base)
    pieces = sample_segmentation(lattice, dropout, np.random.default_rng(seed))
    codec = LZWCompressor(config)
    # The codec accepts the stream (an invalid id raises) and rebuilds the same base ids and
    # the same codebook as greedy encoding.
    decoded = codec.decode_with_codebook(pieces.ids)
    assert decoded.ids.tolist() == base.tolist()
    assert decoded.codebook == codec.encode_with_codebook(base).codebook
    assert int(pieces.lengths.sum()) == len(base)
    assert lattice.pieces_of(pieces.ids).lengths.tolist() == pieces.lengths.tolist()


@settings(max_examples=80, deadline=None)
@given(codec_and_base(), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_the_longest_piece_at_a_position_is_what_greedy_encoding_takes_there(
    case: tuple[CompressionConfig, np.ndarray], dropout: float, seed: int
) -> None:
    config, base = case
    lattice = SegmentationLattice(config, base)
    greedy = lattice.pieces_of(LZWCompressor(config).encode(base))
    assert lattice.longest_at(greedy.starts).tolist() == greedy.ids.tolist()
    # Off the greedy path too: at each start of a walk, a piece there, and none longer.
    walk = sample_segmentation(lattice, dropout, np.random.default_rng(seed))
    longest = lattice.longest_at(walk.starts)
    edges = Lattice(config, base).edges()
    starts, ids, lengths = (np.asarray(x) for x in (edges.starts, edges.ids, edges.lengths))
    for start, piece, chosen in zip(walk.starts, longest, walk.lengths, strict=True):
        here = starts == start
        assert piece in ids[here]
        assert lengths[here][ids[here] == piece][0] == lengths[here].max() >= chosen


def test_dropout_leaves_the_greedy_path_about_as_often_as_asked() -> None:
    config = CompressionConfig(VOCAB, 64, 4, disabled_ids=[DISABLED], pad_token_id=0)
    base = np.asarray([4, 5, 6, 4, 5] * 60, dtype=np.int64)
    lattice = SegmentationLattice(config, base)
    greedy = LZWCompressor(config).encode(base)
    rng = np.random.default_rng(0)
    walks = [sample_segmentation(lattice, 0.2, rng) for _ in range(20)]
    assert all(len(walk.ids) > len(greedy) for walk in walks)
    everywhere = sample_segmentation(lattice, 1.0, rng)
    # Leaving at every position that has a shorter piece: far more ids than 0.2 gives.
    assert len(everywhere.ids) > max(len(walk.ids) for walk in walks)
    never = sample_segmentation(lattice, 0.0, rng)
    assert never.ids.tolist() == greedy.tolist()


# --------------------------------------------------------------------------------- the views
@pytest.fixture(scope="module")
def tok() -> Any:
    return train_setup.tokenizer()


@pytest.fixture(scope="module")
def windows(tok: Any) -> Any:
    return train_setup.dataset(tok, documents=24)


def test_each_view_keeps_the_windows_length_and_covers_a_prefix_of_its_base_tokens(
    tok: Any, windows: Any
) -> None:
    codec = LZWCompressor(tok.config)
    views = WindowViews(
        windows,
        tok.config,
        ViewSettings(segmentation_sampling=0.4, segmentation_dropout=0.3, uncompressed_share=0.3),
    )
    kinds = {"uncompressed": 0, "sampled": 0, "greedy": 0}
    for index in range(len(windows)):
        item, view = windows[index], views[index]
        kind = views.settings.view(index)[0]
        kinds[kind] += 1
        assert view[UNCOMPRESSED] == (kind == "uncompressed")
        base = codec.decode(item["input_ids"].numpy())
        ids = view["input_ids"].numpy()
        assert len(ids) == len(item["input_ids"])
        assert view["num_base_tokens"] <= item["num_base_tokens"] == len(base)
        assert codec.decode(ids).tolist() == base[: view["num_base_tokens"]].tolist()
        assert view["loss_mask"].tolist() == [1] * len(ids)
        if kind == "uncompressed":
            assert (ids < tok.initial_vocab_size).all()
            assert view["num_base_tokens"] == len(ids)
        elif kind == "sampled":
            assert view["num_base_tokens"] < item["num_base_tokens"]
        else:
            assert torch.equal(view["input_ids"], item["input_ids"])
    assert min(kinds.values()) > 0, kinds


def test_greedy_targets_train_a_resegmented_window_to_write_the_longest_piece(
    tok: Any, windows: Any
) -> None:
    """``segmentation_targets="greedy"``: the model reads the re-segmented ids and learns to
    write, at each position, what greedy encoding writes there; greedy windows keep their own
    ids as targets."""
    settings = ViewSettings(
        segmentation_sampling=0.6, segmentation_dropout=0.4, segmentation_targets="greedy"
    )
    views = WindowViews(windows, tok.config, settings)
    codec = LZWCompressor(tok.config)
    longer = 0
    for index in range(len(windows)):
        view, kind = views[index], settings.view(index)[0]
        if kind == "greedy":
            assert "labels" not in view
            continue
        ids = view["input_ids"].numpy()
        base = codec.decode(windows[index]["input_ids"].numpy())
        lattice = SegmentationLattice(tok.config, base)
        pieces = lattice.pieces_of(ids)
        labels = view["labels"].numpy()
        assert labels.tolist() == lattice.longest_at(pieces.starts).tolist()
        edges = Lattice(tok.config, base).edges()
        spans = {
            (int(start), int(piece)): int(length)
            for start, piece, length in zip(edges.starts, edges.ids, edges.lengths, strict=True)
        }
        pairs = zip(pieces.starts.tolist(), labels.tolist(), strict=True)
        label_lengths = np.asarray([spans[pair] for pair in pairs])
        # Never shorter than the piece read; longer wherever the walk left the greedy path.
        assert (label_lengths >= pieces.lengths).all()
        assert ((label_lengths == pieces.lengths) == (labels == ids)).all()
        longer += int((label_lengths > pieces.lengths).sum())
    assert longer > 0
    own = WindowViews(
        windows, tok.config, ViewSettings(segmentation_sampling=0.6, segmentation_dropout=0.4)
    )
    assert all("labels" not in own[index] for index in range(len(windows)))


def test_the_loss_mask_follows_the_base_tokens(tok: Any, windows: Any) -> None:
    item = windows[0]
    mask = torch.zeros_like(item["loss_mask"])
    mask[len(mask) // 2 :] = 1
    masked = [{**item, "loss_mask": mask}]
    views = WindowViews(masked, tok.config, ViewSettings(uncompressed_share=1.0))  # type: ignore[arg-type]
    view = views[0]
    lengths = SegmentationLattice(
        tok.config, LZWCompressor(tok.config).decode(item["input_ids"].numpy())
    ).pieces_of(item["input_ids"].numpy())
    base_mask = np.repeat(mask.numpy(), lengths.lengths)
    assert view["loss_mask"].tolist() == base_mask[: len(mask)].tolist()
    assert 0 < int(view["loss_mask"].sum()) < len(mask)


def test_the_shares_of_windows_are_respected() -> None:
    chosen = ViewSettings(segmentation_sampling=0.3, uncompressed_share=0.25, seed=7)
    count = 4000
    kinds = [chosen.view(index)[0] for index in range(count)]
    for kind, share in [("uncompressed", 0.25), ("sampled", 0.3), ("greedy", 0.45)]:
        spread = 4 * math.sqrt(share * (1 - share) / count)
        assert abs(kinds.count(kind) / count - share) < spread, (kind, kinds.count(kind))


def test_a_view_is_a_function_of_the_seed_and_the_window(tok: Any, windows: Any) -> None:
    chosen = ViewSettings(segmentation_sampling=0.5, segmentation_dropout=0.5, seed=3)
    first = WindowViews(windows, tok.config, chosen)
    again = WindowViews(windows, tok.config, chosen)
    order = list(range(len(windows)))
    seen = {index: first[index]["input_ids"] for index in order}
    # Read in another order (a resumed run, another worker): the same ids for each window.
    assert all(torch.equal(again[index]["input_ids"], seen[index]) for index in reversed(order))
    other = WindowViews(
        windows, tok.config, ViewSettings(segmentation_sampling=0.5, segmentation_dropout=0.5)
    )
    assert any(not torch.equal(other[index]["input_ids"], seen[index]) for index in order)


def test_without_views_the_trainer_reads_the_windows_as_they_are(
    tmp_path: Path, tok: Any, windows: Any
) -> None:
    run = train_setup.trainer(str(tmp_path), tok, train_setup.model(tok), windows)
    assert run.train_dataset is windows
    batch = next(iter(run.get_train_dataloader()))
    assert UNCOMPRESSED not in batch
    viewed = train_setup.trainer(
        str(tmp_path), tok, train_setup.model(tok), windows, uncompressed_share=0.5
    )
    assert isinstance(viewed.train_dataset, WindowViews)
    assert UNCOMPRESSED in next(iter(viewed.get_train_dataloader()))


# ---------------------------------------------------------------------------- the C = 0 rows
def c0_twin(net: Any) -> Any:
    """A model of the same base weights without a codebook."""
    config = net.compression
    control = CompressionConfig(
        config.initial_vocab_size,
        0,
        config.max_subtokens,
        disabled_ids=config.disabled_ids,
        pad_token_id=config.pad_token_id,
    )
    return Zip2ZipForCausalLM(net.base_model, control, position_mode=net.position_mode)


@pytest.mark.parametrize("return_logits", [False, True])
def test_uncompressed_rows_have_the_loss_of_a_model_without_codebook(
    tok: Any, windows: Any, return_logits: bool
) -> None:
    net = train_setup.model(tok).eval()
    compressed = windows[0]
    base_item = WindowViews(windows, tok.config, ViewSettings(uncompressed_share=1.0))[1]
    base_ids = base_item["input_ids"][:50]
    assert (base_ids < tok.initial_vocab_size).all()
    collate = Zip2ZipCollator(tok.config)
    batch = collate([compressed, {"input_ids": base_ids, UNCOMPRESSED: True}])
    assert batch[UNCOMPRESSED].tolist() == [False, True]

    def loss(model: Any, rows: dict[str, Any], **extra: Any) -> Any:
        with torch.no_grad():
            return model(**rows, return_logits=return_logits, **extra).loss_sum

    mixed = loss(net, batch)
    alone = loss(net, collate([compressed]))
    control = loss(c0_twin(net), collate([{"input_ids": base_ids}]))
    torch.testing.assert_close(mixed, alone + control, rtol=1e-5, atol=1e-4)
    # Read as a compressed row, the same base ids build entries and score hypertokens.
    unmarked = {key: value for key, value in batch.items() if key != UNCOMPRESSED}
    assert not torch.allclose(loss(net, unmarked), alone + control, rtol=1e-5, atol=1e-4)
    if return_logits:
        with torch.no_grad():
            logits = net(**batch).logits
        assert torch.isneginf(logits[1, :, tok.initial_vocab_size :]).all()
        assert torch.isfinite(logits[0, -1, tok.initial_vocab_size :]).any()


def test_an_uncompressed_row_must_hold_base_ids_only(tok: Any, windows: Any) -> None:
    net = train_setup.model(tok)
    batch = Zip2ZipCollator(tok.config)([windows[0]])
    assert (batch["input_ids"] >= tok.initial_vocab_size).any()
    with pytest.raises(InvalidArgumentError, match="row 0 is uncompressed but its input_ids"):
        net(**batch, uncompressed=torch.tensor([True]))
    with pytest.raises(InvalidArgumentError, match="uncompressed must be \\[batch\\]"):
        net(**batch, uncompressed=torch.tensor([True, False]))


# --------------------------------------------------------------------------- training options
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("segmentation_sampling", -0.1),
        ("segmentation_sampling", 1.5),
        ("segmentation_dropout", math.nan),
        ("uncompressed_share", 2.0),
        ("uncompressed_share", -1e-9),
    ],
)
def test_a_share_outside_zero_one_is_refused(tmp_path: Path, name: str, value: float) -> None:
    with pytest.raises(InvalidTrainingArgumentError, match=f"{name} must be in \\[0, 1\\]"):
        Zip2ZipTrainingArguments(output_dir=str(tmp_path), use_cpu=True, **{name: value})


def test_the_two_shares_may_not_exceed_all_windows(tmp_path: Path) -> None:
    with pytest.raises(InvalidTrainingArgumentError, match="segmentation_sampling \\+ unc"):
        Zip2ZipTrainingArguments(
            output_dir=str(tmp_path),
            use_cpu=True,
            segmentation_sampling=0.6,
            uncompressed_share=0.5,
        )


@pytest.mark.parametrize(
    "options",
    [
        {"segmentation_sampling": 1.0, "segmentation_dropout": 0.5},
        {
            "segmentation_sampling": 1.0,
            "segmentation_dropout": 0.5,
            "segmentation_targets": "greedy",
        },
        {"uncompressed_share": 1.0},
    ],
)
def test_a_few_steps_train_with_each_option(
    tmp_path: Path, tok: Any, windows: Any, options: dict[str, float]
) -> None:
    run = train_setup.trainer(
        str(tmp_path), tok, train_setup.model(tok), windows, max_steps=3, **options
    )
    run.train()
    logs = [entry for entry in run.state.log_history if "loss" in entry]
    assert len(logs) == 3 and all(math.isfinite(entry["loss"]) for entry in logs)
    greedy = windows.num_base_tokens / windows.num_ids
    if "uncompressed_share" in options:
        # Every window read as base ids: one base token per id, no hypertoken target.
        assert all(entry["compression"] == 1.0 for entry in logs)
        assert all(entry["hyper_target_share"] == 0.0 for entry in logs)
    else:
        assert all(1.0 < entry["compression"] < greedy - 0.1 for entry in logs), greedy


def test_the_train_command_records_the_views_and_refuses_a_rerun_that_changes_them(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    out = tmp_path / "run"
    command = small_train_command(model_dir, corpus(tmp_path), out)
    command += ["--max-codebook-size", "64", "--max-steps", "2"]
    views = ["--segmentation-sampling", "0.5", "--segmentation-dropout", "0.2"]
    views += ["--uncompressed-share", "0.25", "--segmentation-targets", "greedy"]
    assert main([*command, *views]) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    record = json.loads((out / "zip2zip_run.json").read_text())["settings"]
    assert record["segmentation_sampling"] == 0.5
    assert record["segmentation_dropout"] == 0.2
    assert record["uncompressed_share"] == 0.25
    assert record["segmentation_targets"] == "greedy"
    assert main([*command, *views[:4], "--uncompressed-share", "0.3", *views[6:]]) == 2
    err = capsys.readouterr().err
    assert "uncompressed_share (--uncompressed-share)" in err and "0.25" in err
    assert main([*command, *views[:6], "--segmentation-targets", "own"]) == 2
    err = capsys.readouterr().err
    assert "segmentation_targets (--segmentation-targets)" in err and "greedy" in err


def test_a_record_made_before_the_views_existed_is_the_same_run_without_them() -> None:
    from zip2zip_tokenizers.torch.training.run_record import RunRecord

    codec = train_setup.tokenizer().config
    older = RunRecord(codec, {"seed": 0})
    off = {"segmentation_sampling": 0.0, "segmentation_dropout": None, "uncompressed_share": 0.0}
    assert older.differences(RunRecord(codec, {"seed": 0, **off})) == []
    replay = RunRecord(codec, {"seed": 0, **off, "uncompressed_share": 0.25})
    assert older.differences(replay) == [("uncompressed_share", 0.0, 0.25)]
    # Re-segmented windows trained on their own ids, all an older record knew of.
    sampled = {**off, "segmentation_sampling": 0.5, "segmentation_dropout": 0.1}
    before_targets = RunRecord(codec, {"seed": 0, **sampled})
    own = RunRecord(codec, {"seed": 0, **sampled, "segmentation_targets": None})
    assert before_targets.differences(own) == []
    greedy = RunRecord(codec, {"seed": 0, **sampled, "segmentation_targets": "greedy"})
    assert before_targets.differences(greedy) == [("segmentation_targets", None, "greedy")]


def test_an_id_that_is_no_piece_of_the_lattice_is_named() -> None:
    from zip2zip_tokenizers import InvalidTokenError

    config = CompressionConfig(VOCAB, 8, 4, disabled_ids=[DISABLED], pad_token_id=0)
    lattice = SegmentationLattice(config, np.asarray([4, 5, 4, 5], dtype=np.int64))
    with pytest.raises(InvalidTokenError, match="id 12 at index 1 is no piece"):
        lattice.pieces_of(np.asarray([4, VOCAB]))
