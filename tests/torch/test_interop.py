"""Differential tests against the authors' runtime (PyPI ``zip2zip==0.2.0``, run in its own venv by
``authors_runtime.py``) on the same random-initialised ``res_latent_attn`` checkpoints of a tiny
Llama with DeepSeek-V4's tokenizer: same ids, bit-equal base and existing-slot logits, bit-equal
step-by-step greedy generation, and checkpoints written by either side loading in the other."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from authors_runtime import run_oracle  # noqa: E402
from interop_base import authors_config, tiny_llama_base  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from zip2zip_tokenizers.torch import (  # noqa: E402
    AuthorsFormatWarning,
    HyperEncoderConfig,
    ModelMismatchError,
    Zip2ZipForCausalLM,
)

C, M = 256, 4
TEXTS = [
    "def f(x):\n    return x + x + x + x\n\ndef g(x):\n    return f(x) + f(x) + f(x)\n",
    "the cat sat on the mat, the cat sat on the mat, the cat sat on the",
]
# Expressible in their schema: a full-width encoder without an output projection.
OURS = HyperEncoderConfig(kind="transformer", num_heads=4, output_projection=False)


# What their runtime writes for a narrow causal encoder (``position_encoding: null``).
THEIR_ENCODER = {
    "hidden_size": 16,
    "model_hidden_size": 32,
    "num_hidden_layers": 2,
    "intermediate_size": 48,
    "num_heads": 2,
    "causal": True,
    "residual": True,
    "tie_encoders": False,
    "position_encoding": None,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("interop")
    base = work / "base"
    tok = tiny_llama_base(base, C, M)
    vocab = tok.initial_vocab_size
    model = Zip2ZipForCausalLM.from_base(base, tok.config, OURS).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in [*model.input_encoder.parameters(), *model.output_encoder.parameters()]:
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    ours = work / "ours"
    model.save_pretrained(ours, authors_compatible=True)
    tok.save_pretrained(ours)
    theirs = work / "theirs"
    results = run_oracle(
        [
            {
                "op": "create",
                "name": "create",
                "config": authors_config(base, "res_latent_attn", THEIR_ENCODER, tok),
                "out": str(theirs),
                "seed": 3,
            },
            {"op": "forward", "name": "theirs", "checkpoint": str(theirs), "texts": TEXTS},
            {"op": "forward", "name": "ours", "checkpoint": str(ours), "texts": TEXTS},
            {
                "op": "generate",
                "name": "generate",
                "checkpoint": str(ours),
                "texts": TEXTS,
                "max_new_tokens": 24,
            },
            {"op": "resave", "name": "resave", "checkpoint": str(ours), "out": str(work / "re")},
        ],
        work / "oracle",
    )
    return {"work": work, "tok": tok, "vocab": vocab, "model": model, **results}


def masked(model: Any) -> Any:
    model.kwkwk_slot = "masked"
    return model


@pytest.mark.parametrize("checkpoint", ["ours", "theirs"])
def test_same_ids_and_bit_equal_base_and_existing_slot_logits(
    world: dict[str, Any], checkpoint: str
) -> None:
    tok, vocab = world["tok"], world["vocab"]
    loaded = Zip2ZipForCausalLM.from_pretrained(world["work"] / checkpoint).eval()
    # Their checkpoints carry no rule of ours: the KwKwK slot is masked, as there.
    assert loaded.kwkwk_slot == ("scored" if checkpoint == "ours" else "masked")
    assert loaded.authors_origin == (checkpoint == "theirs")
    masked(loaded)
    theirs = world[checkpoint]
    hidden_in_theirs = 0
    for text, ids, logits in zip(TEXTS, theirs["ids"], theirs["logits"], strict=True):
        assert tok.encode(text) == ids.tolist()
        assert int((ids >= vocab).sum()) >= 3
        with torch.no_grad():
            ours = loaded(ids[None]).logits[0]
        assert torch.equal(ours[:, :vocab], logits[:, :vocab])
        exists = torch.isfinite(ours[:, vocab:])
        assert torch.equal(ours[:, vocab:][exists], logits[:, vocab:][exists])
        # Their full forward shows entries created later at earlier positions too.
        later = torch.isfinite(logits[:, vocab:]) & ~exists
        hidden_in_theirs += int(later.sum())
    assert hidden_in_theirs > 0


def test_step_by_step_greedy_generation_is_bit_equal_with_their_kwkwk_rule(
    world: dict[str, Any],
) -> None:
    tok, model = world["tok"], masked(world["model"])
    for text, sequence, logits in zip(
        TEXTS, world["generate"]["sequences"], world["generate"]["logits"], strict=True
    ):
        prompt = torch.tensor([tok.encode(text)])
        out = model.generate(
            prompt,
            max_new_tokens=len(logits),
            eos_token_id=[],
            output_logits=True,
            return_dict_in_generate=True,
        )
        assert out.sequences[0].tolist() == sequence.tolist()
        assert len(out.logits) == len(logits)
        for step, theirs in enumerate(logits):
            assert torch.equal(out.logits[step][0].float(), theirs), step
    model.kwkwk_slot = "scored"


def test_step_hyper_logits_over_a_grown_table_are_their_product_over_all_slots() -> None:
    """Their decode step scores all ``C`` rows (a ``[1, C]`` product), ours the rows our table
    has grown to: a slot's logit must not depend on that width. It did in its last bit at the
    one-slot starting width and at widths that are not a multiple of 4 (a prompt creating 21
    entries: 21, 42, 84, 168), which the generation test above saw only at some thread counts
    (they change the hidden states)."""
    from zip2zip_tokenizers.torch.hyper_state import _Table
    from zip2zip_tokenizers.torch.ops import hyper_logits

    generator = torch.Generator().manual_seed(0)
    entries = torch.randn(1, C, 32, generator=generator)
    hidden = torch.randn(1, 1, 32, generator=generator)
    theirs = torch.bmm(hidden, entries.transpose(1, 2))
    for prompt in range(1, C + 1):  # entries the prompt creates, then one per step
        table, widths = _Table(1, 32, entries), set()
        for slots in range(prompt, C + 1):
            table.ensure(slots, C)
            widths.add(table.values.shape[1])
        for width in widths:
            ours = hyper_logits(hidden, entries[:, :width], torch.tensor([[width]]))
            assert torch.equal(ours, theirs[..., :width]), (prompt, width)


def test_their_save_of_our_checkpoint_loads_back_identically(world: dict[str, Any]) -> None:
    ours, again = world["work"] / "ours", world["work"] / "re"
    mine = json.loads((ours / "zip2zip_config.json").read_text())
    theirs = json.loads((again / "zip2zip_config.json").read_text())
    assert theirs == mine
    a = load_file(str(ours / "zip2zip_encoders.safetensors"))
    b = load_file(str(again / "zip2zip_encoders.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_our_save_of_their_checkpoint_is_their_file(world: dict[str, Any], tmp_path: Path) -> None:
    theirs = world["work"] / "theirs"
    loaded = Zip2ZipForCausalLM.from_pretrained(theirs)
    loaded.save_pretrained(tmp_path, authors_compatible=True)
    original = json.loads((theirs / "zip2zip_config.json").read_text())
    written = json.loads((tmp_path / "zip2zip_config.json").read_text())
    assert written == original
    own = json.loads((tmp_path / "zip2zip_tokenizers_config.json").read_text())
    assert own["kwkwk_slot"] == "masked"
    a = load_file(str(theirs / "zip2zip_encoders.safetensors"))
    b = load_file(str(tmp_path / "zip2zip_encoders.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("encoder", "reason"),
    [
        (HyperEncoderConfig(kind="mean"), "kind='mean'"),
        (HyperEncoderConfig(kind="mlp"), "kind='mlp'"),
        (HyperEncoderConfig(kind="transformer", num_heads=4), "output_projection=True"),
        (
            HyperEncoderConfig(
                kind="transformer", num_heads=4, output_projection=False, pooling="last"
            ),
            "pooling='last'",
        ),
        (
            HyperEncoderConfig(
                kind="transformer", num_heads=4, output_projection=False, position_encoding=None
            ),
            "no position embedding",
        ),
    ],
)
def test_models_their_schema_cannot_hold_warn_and_still_round_trip_here(
    tmp_path: Path, encoder: HyperEncoderConfig, reason: str
) -> None:
    from test_model import randomize, wrapped

    model = wrapped("llama", encoder)
    randomize(model, seed=5)
    # Not asked for, and not from their runtime: nothing to say.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save_pretrained(tmp_path)
        model.save_pretrained(tmp_path / "unchecked", authors_compatible=False)
    with pytest.raises(ModelMismatchError, match=reason):
        model.save_pretrained(tmp_path / "strict", authors_compatible=True)
    # A model loaded from their checkpoint is likely to go back there: warn.
    model.authors_origin = True
    with pytest.warns(AuthorsFormatWarning, match=reason):
        model.save_pretrained(tmp_path / "back")
    loaded = Zip2ZipForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.encoder_config == model.encoder_config
    ids = torch.tensor([[3, 4, 3, 4, 3, 4, 5, 64, 6]])
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)
