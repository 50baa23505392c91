"""The chunked extended-vocabulary loss: equal to cross-entropy over the full logits, gradients
included, whichever path computes it; the top-1 counts it returns equal the argmax of the full
logits; ModelOutput and the token-type head."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_model import config, repetitive  # noqa: E402
from tiny_models import tiny_model  # noqa: E402
from transformers.utils import ModelOutput  # noqa: E402
from zip2zip_tokenizers import LZWCompressor  # noqa: E402
from zip2zip_tokenizers.torch import HyperEncoderConfig, Zip2ZipForCausalLM  # noqa: E402
from zip2zip_tokenizers.torch.errors import LabelError  # noqa: E402
from zip2zip_tokenizers.torch.loss import LOSS_STATS  # noqa: E402

V = 64


def model_and_batch(codebook: int = 48, head: bool = True) -> tuple[Any, Any, Any]:
    cfg = config(codebook=codebook)
    encoder = HyperEncoderConfig(kind="transformer", num_heads=4)
    model = Zip2ZipForCausalLM(tiny_model("qwen2", V), cfg, encoder, token_type_head=head)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in [*model.output_encoder.parameters(), *model.input_encoder.parameters()]:
            p.add_(torch.randn(p.shape, generator=generator) * 0.1)
    rows = [LZWCompressor(cfg).encode(repetitive(90, seed)).tolist()[:30] for seed in (0, 1)]
    ids = torch.tensor(rows)
    labels = ids.clone()
    labels[1, :4] = -100
    return model, ids, labels


def reference(model: Any, ids: Any, labels: Any) -> Any:
    logits = model(ids).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
        labels[:, 1:].reshape(-1),
        ignore_index=-100,
    )


@pytest.mark.parametrize("codebook", [0, 48])
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_chunked_losses_and_gradients_equal_full_cross_entropy(codebook: int, chunk: int) -> None:
    model, ids, labels = model_and_batch(codebook)
    model.loss_chunk_positions = chunk
    expected = reference(model, ids, labels)
    params = [p for p in model.parameters() if p.requires_grad]
    wanted = torch.autograd.grad(expected, params, allow_unused=True)
    for return_logits in (True, False):
        out = model(ids, labels=labels, return_logits=return_logits)
        assert isinstance(out, ModelOutput)
        assert (out.logits is None) == (not return_logits)
        torch.testing.assert_close(out.loss, expected)
        assert int(out.num_targets) == int((labels[:, 1:] != -100).sum())
        base_n, hyper_n = float(out.loss_stats[1]), float(out.loss_stats[3])
        assert hyper_n == float(((labels[:, 1:] >= V) & (labels[:, 1:] != -100)).sum())
        assert base_n + hyper_n == float(out.num_targets)
        got = torch.autograd.grad(out.loss, params, allow_unused=True)
        for g, w in zip(got, wanted, strict=True):
            if w is None:
                assert g is None or not g.abs().any()
            else:
                torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)


def top1_counts(logits: Any, labels: Any) -> dict[str, float]:
    """The top-1 counts of ``LOSS_STATS``, straight from the full ``[B, T, V + C]`` logits."""
    top = logits[:, :-1].argmax(-1)
    targets = labels[:, 1:]
    valid = targets != -100
    hit = valid & (top == targets)
    return {
        "base_correct": float((hit & (targets < V)).sum()),
        "hyper_correct": float((hit & (targets >= V)).sum()),
        "hyper_predicted": float((valid & (top >= V)).sum()),
    }


def stats(out: Any) -> dict[str, float]:
    return dict(zip(LOSS_STATS, out.loss_stats.tolist(), strict=True))


PATHS = ["logits", "fused", "chunked"]


def loss_output(model: Any, ids: Any, labels: Any, path: str) -> Any:
    model.fused_loss = path == "fused"
    return model(ids, labels=labels, return_logits=path == "logits")


@pytest.mark.parametrize("path", PATHS)
def test_top1_counts_equal_the_argmax_of_the_full_logits(path: str) -> None:
    model, ids, labels = model_and_batch()
    model.loss_chunk_positions = 7
    with torch.no_grad():
        # Output vectors 5 x larger: hypertokens win some positions, not all.
        for p in model.output_encoder.parameters():
            p.mul_(5.0)
        logits = model(ids).logits
    expected = top1_counts(logits, labels)
    got = stats(loss_output(model, ids, labels, path))
    assert {name: got[name] for name in expected} == expected
    valid = float((labels[:, 1:] != -100).sum())
    assert 0 < expected["hyper_predicted"] < valid


@pytest.mark.parametrize("path", PATHS)
def test_targets_that_are_the_models_own_top1_ids_are_all_counted_correct(path: str) -> None:
    model, ids, labels = model_and_batch()
    with torch.no_grad():
        for p in model.output_encoder.parameters():
            p.mul_(5.0)
        top = model(ids).logits[:, :-1].argmax(-1)
    targets = torch.cat([labels[:, :1], top], dim=1)
    targets[1, :4] = -100
    got = stats(loss_output(model, ids, targets, path))
    hyper = float(((targets[:, 1:] >= V) & (targets[:, 1:] != -100)).sum())
    assert hyper > 0
    assert got["hyper_correct"] == got["hyper_targets"] == got["hyper_predicted"] == hyper
    assert (
        got["base_correct"]
        == got["base_targets"]
        == float(((targets[:, 1:] < V) & (targets[:, 1:] != -100)).sum())
    )


def test_token_type_head_scores_whether_the_next_id_is_a_hypertoken() -> None:
    model, ids, labels = model_and_batch()
    out = model(ids, labels=labels, return_logits=False)
    valid = labels[:, 1:] != -100
    # A fresh head outputs 0: every target costs log 2, and "not a hypertoken" is predicted.
    torch.testing.assert_close(out.token_type_loss, valid.sum() * torch.log(torch.tensor(2.0)))
    assert int(out.token_type_correct) == int((valid & (labels[:, 1:] < V)).sum())
    out.token_type_loss.backward()
    assert model.token_type_head.weight.grad.abs().sum() > 0


def test_labels_outside_the_extended_vocabulary_are_refused() -> None:
    model, ids, labels = model_and_batch(head=False)
    labels[0, 5] = V + 48
    with pytest.raises(LabelError, match=r"label 112 at \(row 0, position 5\)"):
        model(ids, labels=labels)


def checkpointing(model: Any) -> bool:
    return any(getattr(m, "gradient_checkpointing", False) for m in model.base_model.modules())


def test_gradient_checkpointing_gives_the_same_loss_and_gradients() -> None:
    model, ids, labels = model_and_batch()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    plain = model(ids, labels=labels, return_logits=False).loss
    wanted = torch.autograd.grad(plain, params, allow_unused=True)
    model.gradient_checkpointing_enable()
    assert checkpointing(model)
    again = model(ids, labels=labels, return_logits=False).loss
    got = torch.autograd.grad(again, params, allow_unused=True)
    torch.testing.assert_close(again, plain)
    for g, w in zip(got, wanted, strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            torch.testing.assert_close(g, w)
    model.gradient_checkpointing_disable()
    assert not checkpointing(model)


def test_a_masked_kwkwk_slot_leaves_its_targets_out_of_the_loss() -> None:
    cfg = config()
    ids = torch.tensor([LZWCompressor(cfg).encode([5] * 12).tolist()])
    assert ids[0, 1] == V  # read right after its first piece: the about-to-be-created entry
    losses = {}
    for slot in ("scored", "masked"):
        torch.manual_seed(0)
        model = Zip2ZipForCausalLM(
            tiny_model("llama", V), cfg, HyperEncoderConfig(kind="mean"), kwkwk_slot=slot
        )
        out = model(ids, labels=ids, return_logits=False)
        assert torch.isfinite(out.loss)
        losses[slot] = out
    dropped = int(losses["scored"].num_targets) - int(losses["masked"].num_targets)
    assert dropped >= 1
    # The dropped targets' terms are gone from the sum.
    assert losses["masked"].loss_sum < losses["scored"].loss_sum
