"""Evaluation (issue 10): exact multi-view against brute force, the metric order, the base
metric against transformers, rolling windows, bad input and the ``eval`` command."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tiny_models import tiny_model  # noqa: E402
from tiny_text_model import save_tiny_model  # noqa: E402
from zip2zip_tokenizers import (  # noqa: E402
    CompressionConfig,
    Lattice,
    LZWCompressor,
    Zip2ZipTokenizer,
)
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.settings import CodecMismatchError  # noqa: E402
from zip2zip_tokenizers.torch import (  # noqa: E402
    HyperEncoderConfig,
    Zip2ZipForCausalLM,
)
from zip2zip_tokenizers.torch.evaluation import (  # noqa: E402
    Document,
    EvaluationError,
    canonical,
    canonical_with_break,
    evaluate,
    generation_compression,
    load_for_eval,
    read_documents,
    rolling_windows,
    score_segmentation,
    tokenize,
)

V, C, M = 64, 48, 4
TEXT = (
    "def fibonacci(n):\n    if n <= 1:\n        return n\n    return fibonacci(n - 1) + "
    "fibonacci(n - 2)\n\n# Ünïcödé: naïve café, 日本語, emoji 🙂\n"
) * 6


def randomize(model: Any, seed: int = 0) -> None:
    """Non-trivial encoder weights (a fresh residual encoder is exactly the first subtoken)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*model.input_encoder.parameters(), *model.output_encoder.parameters()]:
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)


def repetitive(length: int, seed: int) -> np.ndarray:
    rng = random.Random(seed)
    motifs = [[rng.randrange(3, 12) for _ in range(rng.randrange(2, 5))] for _ in range(3)]
    out = [1]
    while len(out) < length:
        out.extend(motifs[rng.randrange(3)])
    return np.array(out[:length], dtype=np.int64)


def brute_force(model: Any, base: np.ndarray, ids: np.ndarray, target: int) -> float:
    """log P(span of ids[target]) summed over its segmentations, one forward per path."""
    cfg = model.compression
    starts, pieces, lengths = Lattice(cfg, base).edges()
    segmentation = canonical(cfg, base)
    start, span = int(segmentation.starts[target]), int(segmentation.lengths[target])
    paths: list[list[int]] = []

    def walk(offset: int, path: list[int]) -> None:
        mask = starts == start + offset
        for piece, size in zip(pieces[mask].tolist(), lengths[mask].tolist(), strict=True):
            if offset + size == span:
                paths.append([*path, piece])
            elif offset + size < span:
                walk(offset + size, [*path, piece])

    walk(0, [])
    totals = []
    for path in paths:
        stream = torch.tensor([[*ids[:target].tolist(), *path]])
        with torch.no_grad():
            logprobs = model(stream).logits[0].float().log_softmax(-1)
        totals.append(sum(logprobs[target - 1 + k, p].item() for k, p in enumerate(path)))
    return float(torch.logsumexp(torch.tensor(totals, dtype=torch.float64), 0))


@pytest.mark.parametrize(
    ("position_mode", "max_tree_nodes"), [("sequential", 5), ("base_token_end", 4096)]
)
def test_exact_equals_one_forward_per_path_and_bounds_hold(
    position_mode: str, max_tree_nodes: int
) -> None:
    cfg = CompressionConfig(V, C, M, [0, 1, 2], 0)
    encoder = HyperEncoderConfig(kind="transformer", num_heads=4)
    model = Zip2ZipForCausalLM(tiny_model("llama", V), cfg, encoder, position_mode=position_mode)
    model.eval()
    randomize(model)
    base = repetitive(44, seed=3)
    segmentation = canonical(cfg, base)
    scores = score_segmentation(
        model, segmentation, 1, ("strict", "first", "exact"), max_tree_nodes=max_tree_nodes
    )
    assert scores.tree_nodes > 0 and (scores.lengths > 2).any()
    strict, first, exact = (scores.logprobs[m] for m in ("strict", "first", "exact"))
    for target in range(1, len(segmentation.ids)):
        expected = brute_force(model, base, segmentation.ids, target)
        assert exact[target - 1] == pytest.approx(expected, abs=2e-5)
    assert (first >= exact - 1e-5).all() and (exact >= strict - 1e-5).all()
    single = scores.lengths == 1
    np.testing.assert_allclose(exact[single], strict[single], atol=1e-6)
    assert (exact[~single] > strict[~single] + 1e-6).all()


@settings(max_examples=60, deadline=None)
@given(
    base=st.lists(st.integers(0, 5), max_size=40),
    codebook=st.sampled_from([0, 4, 30]),
    boundary_fraction=st.floats(0, 1),
)
def test_breaking_at_a_boundary_keeps_canonical_ids_before_it(
    base: list[int], codebook: int, boundary_fraction: float
) -> None:
    cfg = CompressionConfig(6, codebook, 3, [5], None)
    ids = np.array(base, dtype=np.int64)
    lattice = Lattice(cfg, ids)
    assert (
        canonical_with_break(cfg, ids, lattice, 0).ids.tolist() == canonical(cfg, ids).ids.tolist()
    )
    boundary = int(boundary_fraction * len(base))
    broken = canonical_with_break(cfg, ids, lattice, boundary)
    assert boundary in {0, *broken.ends.tolist()}
    assert int(broken.lengths.sum()) == len(base)
    head = canonical(cfg, ids[:boundary])
    assert broken.ids[: len(head.ids)].tolist() == head.ids.tolist()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> tuple[Zip2ZipForCausalLM, Zip2ZipTokenizer]:
    model, tokenizer = load_for_eval(
        model_dir,
        max_codebook_size=256,
        encoder=HyperEncoderConfig(kind="transformer", num_heads=4),
    )
    randomize(model, seed=1)
    return model, tokenizer


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=300), window=st.integers(2, 40))
def test_windows_score_every_token_once_and_cover_every_byte(
    loaded: tuple[Any, Zip2ZipTokenizer], text: str, window: int
) -> None:
    tokenizer = loaded[1].base_tokenizer
    tokenized = tokenize(tokenizer, text)
    windows = rolling_windows(tokenized, window, prefix=1)
    targets = [w.base[1:] for w in windows]
    assert np.concatenate([*targets, np.zeros(0, np.int64)]).tolist() == tokenized.ids.tolist()
    assert all(w.base[0] == 1 and 1 <= w.targets <= window for w in windows)
    if windows:
        assert sum(w.bytes for w in windows) == len(text.encode("utf-8"))
    for before, after in itertools.pairwise(windows):
        assert before.byte_stop == after.byte_start


def reference_rolling_nll(base_model: Any, windows: list[Any]) -> float:
    """transformers alone: each window's targets scored after the prefix, summed."""
    total = 0.0
    for window in windows:
        ids = torch.from_numpy(window.base)[None]
        with torch.no_grad():
            logprobs = base_model(input_ids=ids[:, :-1]).logits[0].double().log_softmax(-1)
        total -= float(logprobs.gather(1, ids[0, 1:, None]).sum())
    return total


def test_base_equals_transformers_rolling_loglikelihood_and_metrics_are_ordered(
    loaded: tuple[Any, Zip2ZipTokenizer],
) -> None:
    model, tokenizer = loaded
    report = evaluate(
        model,
        tokenizer,
        [Document("a.txt", "code", TEXT), Document("b.txt", "prose", TEXT[:90])],
        window=48,
        metrics=("strict", "first", "exact"),
        compare_base=True,
    )
    assert report.metrics == ["base", "strict", "first", "exact"]
    text = tokenize(tokenizer.base_tokenizer, TEXT)
    windows = rolling_windows(text, 48, tokenizer.bos_token_id)
    expected = reference_rolling_nll(model.base_model, windows)
    ours = sum(w.nll["base"] for w in report.windows if w.file == "a.txt")
    assert ours == pytest.approx(expected, rel=1e-5)
    for window in report.windows:
        nll = window.nll
        assert nll["first"] <= nll["exact"] + 1e-4 and nll["exact"] <= nll["strict"] + 1e-4
    total = report.total()
    assert total.bytes == len(TEXT.encode()) + len(TEXT[:90].encode())
    assert total.base_tokens == len(text.ids) + len(
        tokenize(tokenizer.base_tokenizer, TEXT[:90]).ids
    )
    assert total.ids < total.base_tokens
    assert total.bits_per_byte("exact") == pytest.approx(
        total.nll["exact"] / total.bytes / math.log(2)
    )
    assert [t.name for t in report.totals("domain")] == ["code", "prose"]


def test_lm_eval_rolling_loglikelihood_of_transformers_equals_the_base_metric(
    loaded: tuple[Any, Zip2ZipTokenizer],
) -> None:
    """On a document that fits one window, lm-eval's HF model (transformers) gives the same
    rolling log-likelihood as our base metric."""
    lm_eval_hf = pytest.importorskip("lm_eval.models.huggingface")
    from lm_eval.api.instance import Instance

    model, tokenizer = loaded
    text = TEXT[:200]
    report = evaluate(model, tokenizer, [Document("a", "d", text)], window=512, compare_base=True)
    hf = lm_eval_hf.HFLM(
        pretrained=model.base_model,
        tokenizer=tokenizer.base_tokenizer,
        max_length=512,
        batch_size=1,
    )
    request = Instance("loglikelihood_rolling", {}, (text,), 0)
    (theirs,) = hf.loglikelihood_rolling([request], disable_tqdm=True)
    assert -report.total().nll["base"] == pytest.approx(theirs, rel=1e-5)


def test_next_id_accuracy_counts_the_argmax_of_one_plain_forward(
    loaded: tuple[Any, Zip2ZipTokenizer],
) -> None:
    model, tokenizer = loaded
    report = evaluate(model, tokenizer, [Document("a.txt", "code", TEXT)], window=64)
    windows = rolling_windows(tokenize(tokenizer.base_tokenizer, TEXT), 64, tokenizer.bos_token_id)
    vocab = model.compression.initial_vocab_size
    expected = {"correct": 0, "hyper_targets": 0, "hyper_correct": 0, "hyper_predicted": 0}
    for window in windows:
        ids = torch.from_numpy(canonical(model.compression, window.base).ids)[None]
        with torch.no_grad():
            argmax = model(ids[:, :-1]).logits[0].argmax(-1)
        targets = ids[0, 1:]
        hyper = targets >= vocab
        expected["correct"] += int((argmax == targets).sum())
        expected["hyper_targets"] += int(hyper.sum())
        expected["hyper_correct"] += int(((argmax == targets) & hyper).sum())
        expected["hyper_predicted"] += int((argmax >= vocab).sum())
    total = report.total()
    assert {name: getattr(total, name) for name in expected} == expected
    assert expected["hyper_targets"] > 0 and expected["hyper_predicted"] > 0
    assert total.hyper_accuracy == expected["hyper_correct"] / expected["hyper_targets"]
    assert total.accuracy == expected["correct"] / total.ids
    assert total.hyper_prediction_share == expected["hyper_predicted"] / total.ids
    assert report.to_dict()["total"]["hyper_accuracy"] == total.hyper_accuracy


def test_bad_files_are_skipped_with_their_offset_or_raise(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    good, empty, latin = (tmp_path / "d" / n for n in ("good.txt", "empty.txt", "latin.txt"))
    good.write_text("hello world\n")
    empty.write_text("  \n")
    latin.write_bytes(b"caf\xc3\xa9 ok, then caf\xe9\n")
    documents, skipped = read_documents([good, empty, latin])
    assert [d.file for d in documents] == [str(good)] and documents[0].domain == "d"
    assert [(s.file, s.offset) for s in skipped] == [(str(empty), 0), (str(latin), 18)]
    assert "UTF-8" in skipped[1].reason and "0xe9" in skipped[1].reason
    with pytest.raises(EvaluationError, match=r"latin.txt: not UTF-8 .* byte 18"):
        read_documents([latin], strict=True)


def test_bad_arguments_are_clear_errors(loaded: tuple[Any, Zip2ZipTokenizer]) -> None:
    model, tokenizer = loaded
    text = tokenize(tokenizer.base_tokenizer, "some text")
    with pytest.raises(EvaluationError, match="window must be at least 2"):
        rolling_windows(text, 1, prefix=1)
    with pytest.raises(EvaluationError, match="metrics must be some of"):
        evaluate(model, tokenizer, [], metrics=("strict", "beam"))
    with pytest.raises(TypeError, match="metrics must be a collection of names, not one str"):
        evaluate(model, tokenizer, [], metrics="strict")
    segmentation = canonical(model.compression, np.array([1, 5, 6, 5, 6]))
    with pytest.raises(EvaluationError, match="max_tree_nodes must be at least 1"):
        score_segmentation(model, segmentation, 1, ("exact",), max_tree_nodes=0)
    with pytest.raises(EvaluationError, match="first_target"):
        score_segmentation(model, canonical(model.compression, np.array([1])))
    plain = Zip2ZipForCausalLM(
        model.base_model, CompressionConfig(model.initial_vocab_size, 16, 4, [0], 0)
    )
    with pytest.raises(EvaluationError, match="prefix token 1 is not a disabled id"):
        evaluate(plain, tokenizer, [Document("a", "d", "text")])


def test_a_checkpoint_whose_codec_differs_from_its_tokenizer_is_an_error(
    loaded: tuple[Any, Zip2ZipTokenizer], model_dir: Path, tmp_path: Path
) -> None:
    model, tokenizer = loaded
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    reloaded, _ = load_for_eval(tmp_path / "ckpt")
    assert reloaded.compression == model.compression
    other = Zip2ZipTokenizer.from_pretrained(model_dir, max_codebook_size=128, max_subtokens=3)
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(
        CodecMismatchError, match=r"max_codebook_size: 256 .* vs 128.*max_subtokens: 4 "
    ):
        load_for_eval(tmp_path / "ckpt", tokenizer_dir=tmp_path / "other")


def test_generation_compression_counts_base_tokens_per_generated_id(
    loaded: tuple[Any, Zip2ZipTokenizer],
) -> None:
    model, tokenizer = loaded
    runs = generation_compression(model, tokenizer, [TEXT[:120], TEXT[:60]], max_new_tokens=8)
    assert [r["mode"] for r in runs] == ["greedy", "sampled"]
    for run in runs:
        assert 0 < run["ids"] <= 16 and run["base_tokens"] >= run["ids"]
        assert run["compression"] == run["base_tokens"] / run["ids"]


def test_generation_compression_sets_the_codecs_encoding_of_the_same_text_beside_it(
    loaded: tuple[Any, Zip2ZipTokenizer],
) -> None:
    """``codec_ids``: what a fresh codec spends on the generated text after the prompt, read
    here from the whole generated sequence (prompt and new ids expanded together)."""
    model, tokenizer = loaded
    prompts = [TEXT[:150], TEXT[:90]]
    (run,) = generation_compression(model, tokenizer, prompts, max_new_tokens=24, modes=["greedy"])
    codec = LZWCompressor(tokenizer.config)
    spent = 0
    for prompt in prompts:
        prompt_ids = tokenizer([prompt], return_tensors="pt")["input_ids"]
        sequence = model.generate(
            prompt_ids, max_new_tokens=24, do_sample=False, tokenizer=tokenizer
        )
        whole = tokenizer.to_base_ids(sequence[0])
        alone = tokenizer.to_base_ids(prompt_ids[0])
        assert len(whole) > len(alone)
        spent += len(codec.encode(whole)) - len(codec.encode(alone))
    assert run["codec_ids"] == spent
    assert run["codec_compression"] == run["base_tokens"] / spent
    # TEXT repeats itself: the codec reads the continuation in fewer ids than base tokens.
    assert run["codec_compression"] > 1


@pytest.mark.parametrize("encoder", ["mlp", "transformer"])
def test_eval_command_wraps_a_base_model_with_any_trainable_encoder(
    model_dir: Path, tmp_path: Path, encoder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "doc.txt").write_text(TEXT)
    out_json = tmp_path / "out.json"
    argv = [
        "eval", "--model", str(model_dir), "--data", str(tmp_path / "doc.txt"), "--window", "64",
        "--max-codebook-size", "128", "--encoder", encoder, "--json", str(out_json),
        "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    total = json.loads(out_json.read_text())["total"]
    assert total["bytes"] == len(TEXT.encode()) and total["compression"] > 1


def test_eval_command_writes_table_json_and_plot(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "held_out"
    for domain, text in [("code", TEXT), ("prose", TEXT[::-1])]:
        (data / domain).mkdir(parents=True)
        (data / domain / "doc.txt").write_text(text)
    (data / "prose" / "bad.txt").write_bytes(b"\xff\xfe")
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    code = main(
        [
            "eval", "--model", str(model_dir), "--data", f"{data}/*/*.txt", "--window", "64",
            "--metrics", "strict,exact", "--compare-base", "--max-codebook-size", "128",
            "--json", str(out_json), "--plot", str(out_png), "--no-progress",
            "--max-tree-nodes", "3",
        ]
    )  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    assert "| code |" in table and "| all |" in table and "exact byte-PPL" in table
    assert f"skipped {data / 'prose' / 'bad.txt'} at byte 0: not UTF-8" in table
    result = json.loads(out_json.read_text())
    assert result["metrics"] == ["base", "strict", "exact"]
    assert [d["name"] for d in result["domains"]] == ["code", "prose"]
    assert result["total"]["bytes"] == len(TEXT.encode()) * 2
    assert result["settings"]["max_codebook_size"] == 128
    assert out_png.read_bytes().startswith(b"\x89PNG")
