"""Loading options passed through to transformers: dtype, device_map (on CPU here)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from test_model import TRANSFORMER, canonical, config, randomize, repetitive  # noqa: E402
from tiny_models import tiny_model  # noqa: E402
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM  # noqa: E402


def test_dtype_and_device_map_reach_the_base_model_and_the_encoders(tmp_path: Path) -> None:
    base = tmp_path / "base"
    tiny_model("llama", 64).save_pretrained(base)
    model = Zip2ZipForCausalLM.from_base(base, config(), TRANSFORMER).eval()
    randomize(model, seed=9)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = Zip2ZipForCausalLM.from_pretrained(
        tmp_path / "ckpt", dtype=torch.bfloat16, device_map="cpu"
    ).eval()
    assert loaded.dtype == torch.bfloat16 and loaded.device.type == "cpu"
    encoders = [*loaded.input_encoder.parameters(), *loaded.output_encoder.parameters()]
    assert {p.dtype for p in encoders} == {torch.bfloat16}
    ids = torch.tensor([canonical(repetitive(40, seed=2))])
    with torch.no_grad():
        low, full = loaded(ids).logits.float(), model(ids).logits
    finite = torch.isfinite(full)
    assert torch.equal(finite, torch.isfinite(low))
    assert torch.allclose(low[finite], full[finite], atol=0.05, rtol=0.05)
    out = loaded.generate(ids, max_new_tokens=4, eos_token_id=[])
    assert out.shape == (1, ids.shape[1] + 4)
