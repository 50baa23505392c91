"""Health signals in the training logs: top-1 accuracy on base-id and hypertoken targets, the
hypertoken share of the model's own top-1 ids and the gradient norm of each part of the model
before clipping, each equal to a direct computation on the same batch (with gradient
accumulation too), logged at the logging steps only."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import train_setup  # noqa: E402
from zip2zip_tokenizers.torch.training import Zip2ZipCollator  # noqa: E402
from zip2zip_tokenizers.torch.training.grad_norms import group_grad_norms  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TOKEN_TYPE_WEIGHT = 0.05


def untied_model(tok: Any, lora_r: int) -> Any:
    """The shared tiny model with its encoders moved off the identity start, so that no
    hypertoken ties its first base token's logit (a tie's winner would be float rounding). The
    transformer encoder: the noise is sized for it (on the MLP's wide first layer it makes every
    argmax a hypertoken, and the test needs both kinds right somewhere)."""
    net = train_setup.model(tok, lora_r=lora_r, encoder="transformer")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in [*net.input_encoder.parameters(), *net.output_encoder.parameters()]:
            p.add_(torch.randn(p.shape, generator=generator) * 0.3)
    return net


def direct(net: Any, tok: Any, data: Any) -> dict[str, float]:
    """Accuracies, top-1 hypertoken share and per-part gradient norms of one step over all of
    ``data``, from the full logits and a plain backward pass of a copy of ``net``."""
    net = copy.deepcopy(net).train()
    vocab = tok.initial_vocab_size
    batch = Zip2ZipCollator(tok.config)([data[i] for i in range(len(data))])
    batch.pop("num_base_tokens", None)
    with torch.no_grad():
        top = net(batch["input_ids"], batch["attention_mask"]).logits[:, :-1].argmax(-1)
    targets = batch["labels"][:, 1:]
    valid = targets != -100
    hyper = valid & (targets >= vocab)
    base = valid & ~hyper
    hit = top == targets
    out = net(**batch, return_logits=False)
    loss = (out.loss_sum + TOKEN_TYPE_WEIGHT * out.token_type_loss) / out.num_targets
    loss.backward()
    parts = {
        "encoders": [*net.input_encoder.parameters(), *net.output_encoder.parameters()],
        "token_type_head": list(net.token_type_head.parameters()),
        "adapter" if hasattr(net.base_model, "peft_config") else "base_model": [
            p for p in net.base_model.parameters() if p.requires_grad
        ],
    }
    result = {
        f"grad_norm_{name}": math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params))
        for name, params in parts.items()
    }
    result |= {
        "accuracy_base_targets": float((hit & base).sum() / base.sum()),
        "accuracy_hyper_targets": float((hit & hyper).sum() / hyper.sum()),
        "hyper_prediction_share": float((valid & (top >= vocab)).sum() / valid.sum()),
    }
    return result


@pytest.mark.parametrize(("lora_r", "accumulation"), [(0, 1), (4, 2)])
def test_one_steps_health_metrics_equal_a_direct_computation(
    tmp_path: Path, lora_r: int, accumulation: int
) -> None:
    tok = train_setup.tokenizer()
    net = untied_model(tok, lora_r)
    data = train_setup.dataset(tok, documents=6)
    expected = direct(net, tok, data)
    run = train_setup.trainer(
        str(tmp_path),
        tok,
        net,
        data,
        max_steps=1,
        # The whole dataset is the step's batch, in `accumulation` micro-batches.
        per_device_train_batch_size=-(-len(data) // accumulation),
        gradient_accumulation_steps=accumulation,
        # Clipped hard: the logged norms are the gradients' before clipping.
        max_grad_norm=1e-3,
        token_type_loss_weight=TOKEN_TYPE_WEIGHT,
    )
    run.train()
    logged = next(e for e in run.state.log_history if "loss" in e)
    assert 0 < expected["hyper_prediction_share"] < 1
    assert expected["accuracy_hyper_targets"] > 0 and expected["accuracy_base_targets"] > 0
    for name, value in expected.items():
        assert logged[name] == pytest.approx(value, rel=1e-4, abs=1e-7), name
    parts = [value for name, value in logged.items() if name.startswith("grad_norm_")]
    assert len(parts) == 3
    # The parts' norms add up (in squares) to the whole gradient's, as the Trainer clipped it.
    assert math.sqrt(sum(v * v for v in parts)) == pytest.approx(logged["grad_norm"], rel=1e-4)
    assert logged["grad_norm"] > 1e-3 * 10


def test_gradient_norms_are_logged_at_logging_steps_only(tmp_path: Path) -> None:
    tok = train_setup.tokenizer()
    run = train_setup.trainer(
        str(tmp_path),
        tok,
        train_setup.model(tok, lora_r=4),
        train_setup.dataset(tok, documents=8),
        max_steps=7,
        logging_steps=3,
        logging_first_step=True,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,
    )
    computed: list[int] = []
    norms = run._group_grad_norms

    def counted() -> dict[str, Any]:
        computed.append(run.state.global_step + 1)
        return norms()

    run._group_grad_norms = counted  # type: ignore[method-assign]
    run.train()
    logs = [e for e in run.state.log_history if "loss" in e]
    assert [e["step"] for e in logs] == [1, 3, 6]
    assert computed == [1, 3, 6]
    for entry in logs:
        parts = [entry[f"grad_norm_{name}"] for name in ("encoders", "adapter", "token_type_head")]
        assert math.sqrt(sum(v * v for v in parts)) == pytest.approx(entry["grad_norm"], rel=1e-4)


def test_group_norms_name_each_part_and_skip_parameters_without_gradients() -> None:
    tok = train_setup.tokenizer()
    net = train_setup.model(tok, lora_r=4)
    assert group_grad_norms(net) == {}
    for p in net.token_type_head.parameters():
        p.grad = torch.full_like(p, 2.0)
    count = sum(p.numel() for p in net.token_type_head.parameters())
    norms = group_grad_norms(net, scale=4.0)
    # Every trainable part is named; those without gradients have norm 0.
    assert set(norms) == {"encoders", "adapter", "token_type_head"}
    assert float(norms["token_type_head"]) == pytest.approx(2.0 * math.sqrt(count) / 4.0)
    assert float(norms["encoders"]) == float(norms["adapter"]) == 0.0
    summed = group_grad_norms(net, all_reduce=lambda t: t * 3)
    assert float(summed["token_type_head"]) == pytest.approx(2.0 * math.sqrt(3 * count))
