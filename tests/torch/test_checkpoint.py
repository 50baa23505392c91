"""Save → load gives identical logits; the authors' released layout loads; mismatches are clear."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import load_file, save_file  # noqa: E402
from test_model import (  # noqa: E402
    MEAN,
    TRANSFORMER,
    V,
    canonical,
    config,
    randomize,
    repetitive,
    wrapped,
)
from tiny_models import tiny_model  # noqa: E402
from zip2zip_tokenizers.torch import (  # noqa: E402
    HyperEncoderConfig,
    ModelMismatchError,
    Zip2ZipForCausalLM,
)


def logits_of(model: Any) -> torch.Tensor:
    ids = torch.tensor([canonical(repetitive(40, seed=5))])
    with torch.no_grad():
        out: torch.Tensor = model(ids).logits
    return out


@pytest.mark.parametrize(
    "encoder",
    [
        MEAN,
        TRANSFORMER,
        HyperEncoderConfig(
            kind="transformer",
            tie_encoders=True,
            hidden_size=16,
            pooling="last",
            causal=True,
            num_heads=2,
        ),
    ],
    ids=["mean", "transformer", "narrow-tied-causal"],
)
def test_save_then_load_gives_identical_logits(tmp_path: Path, encoder: HyperEncoderConfig) -> None:
    model = wrapped("phi3", encoder, position_mode="base_token_end")
    randomize(model, seed=7)
    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"zip2zip_config.json", "zip2zip_encoders.safetensors", "model.safetensors"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    loaded = Zip2ZipForCausalLM.from_pretrained(tmp_path)
    assert loaded.position_mode == "base_token_end"
    assert loaded.encoder_config == model.encoder_config
    assert torch.equal(logits_of(loaded), logits_of(model))


def test_lora_adapters_save_separately_and_reload(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    base_dir = tmp_path / "base"
    tiny_model("llama", V, tied=True).save_pretrained(base_dir)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    model = Zip2ZipForCausalLM.from_base(base_dir, config(), TRANSFORMER, lora=lora).eval()
    randomize(model, seed=3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.1)
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    saved = json.loads((ckpt / "zip2zip_config.json").read_text())
    assert saved["base_model_name_or_path"] == str(base_dir.resolve())
    assert (ckpt / "adapter_model.safetensors").is_file()
    assert not (ckpt / "model.safetensors").exists()
    loaded = Zip2ZipForCausalLM.from_pretrained(ckpt).eval()
    assert torch.equal(logits_of(loaded), logits_of(model))

    whole = tmp_path / "whole"
    model.save_pretrained(whole, save_base=True)
    assert not (whole / "model.safetensors").exists()
    tensors = load_file(str(whole / "base_model" / "model.safetensors"))
    assert not any("lora_" in k or "base_layer" in k for k in tensors)
    again = Zip2ZipForCausalLM.from_pretrained(whole).eval()
    assert torch.equal(logits_of(again), logits_of(model))


@pytest.mark.parametrize("lora", [False, True], ids=["whole", "lora"])
def test_a_given_state_dict_is_saved_instead_of_the_live_weights(
    tmp_path: Path, lora: bool
) -> None:
    """What FSDP's gathered weights go through: every file comes from the state dict, and tied
    embeddings, separate tensors there, are saved once."""
    adapter = None
    if lora:
        peft = pytest.importorskip("peft")
        adapter = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])

    def build(seed: int) -> Any:
        torch.manual_seed(seed)
        base = tiny_model("llama", V, tied=True)
        model = Zip2ZipForCausalLM.from_base(base, config(), TRANSFORMER, lora=adapter).eval()
        randomize(model, seed=seed)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(std=0.1)
        return model

    trained, live = build(1), build(2)
    gathered = {name: t.clone() for name, t in trained.state_dict().items()}
    live.save_pretrained(tmp_path, save_base=True, state_dict=gathered)
    loaded = Zip2ZipForCausalLM.from_pretrained(tmp_path).eval()
    assert torch.equal(logits_of(loaded), logits_of(trained))
    base = tmp_path / "base_model" if lora else tmp_path
    names = load_file(str(base / "model.safetensors")).keys()
    assert ("lm_head.weight" in names) != ("model.embed_tokens.weight" in names)


def authors_checkpoint(directory: Path, model: Any) -> None:
    """Writes ``model`` the way the authors' runtime does (format 2, res_latent_attn)."""
    model.base_model.save_pretrained(directory)
    cfg = model.encoder_config
    data = {
        "format_version": 2,
        "base_model_name_or_path": ".",
        "position_mode": "base_token_end",
        "encoder_type": "res_latent_attn",
        "encoder": {
            "hidden_size": cfg.hidden_size,
            "model_hidden_size": 32,
            "num_hidden_layers": cfg.num_hidden_layers,
            "intermediate_size": cfg.intermediate_size,
            "num_heads": cfg.num_heads,
            "causal": False,
            "residual": True,
            "tie_encoders": False,
            "position_encoding": "learnable",
        },
        "compression": {
            "initial_vocab_size": V,
            "max_codebook_size": model.max_codebook_size,
            "max_subtokens": model.compression.max_subtokens,
            "disabled_ids": [0, 1, 2],
        },
    }
    (directory / "zip2zip_config.json").write_text(json.dumps(data))
    tensors = {f"input_encoder.{k}": v for k, v in model.input_encoder.state_dict().items()}
    tensors |= {f"output_encoder.{k}": v for k, v in model.output_encoder.state_dict().items()}
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, directory / "zip2zip_encoders.safetensors"
    )


def test_the_authors_released_layout_loads(tmp_path: Path) -> None:
    narrow = HyperEncoderConfig(
        kind="transformer", hidden_size=16, num_heads=2, num_hidden_layers=2
    )
    model = wrapped("llama", narrow, position_mode="base_token_end")
    randomize(model, seed=11)
    keys = set(model.input_encoder.state_dict())
    assert {"pos_embed.weight", "proj_in.weight", "proj_out.weight", "norm.weight"} <= keys
    assert {f"layers.1.{n}.weight" for n in ["wq", "wk", "wv", "wo", "w1", "w2", "norm1"]} <= keys
    authors_checkpoint(tmp_path, model)
    loaded = Zip2ZipForCausalLM.from_pretrained(tmp_path)
    assert loaded.position_mode == "base_token_end"
    # Their checkpoints come from a runtime and a recipe that never score the KwKwK slot.
    assert loaded.kwkwk_slot == "masked"
    assert not torch.equal(logits_of(loaded), logits_of(model))
    model.kwkwk_slot = "masked"
    assert torch.equal(logits_of(loaded), logits_of(model))


def test_mismatched_base_or_encoders_are_clear_errors(tmp_path: Path) -> None:
    model = wrapped("llama", TRANSFORMER)
    model.save_pretrained(tmp_path / "a")
    with pytest.raises(ModelMismatchError, match="initial_vocab_size"):
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "a", base_model=tiny_model("llama", V + 8))
    broken = tmp_path / "a" / "zip2zip_config.json"
    data = json.loads(broken.read_text())
    data["encoder"]["num_hidden_layers"] = 3
    broken.write_text(json.dumps(data))
    with pytest.raises(ModelMismatchError, match=r"layers\.1"):
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "a")
    data["encoder_type"] = "lstm"
    broken.write_text(json.dumps(data))
    with pytest.raises(ModelMismatchError, match="not supported"):
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "a")
    with pytest.raises(FileNotFoundError):
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "missing")


def test_damaged_encoder_files_and_missing_bases_are_clear_errors(tmp_path: Path) -> None:
    import time

    model = wrapped("llama", TRANSFORMER)
    model.save_pretrained(tmp_path / "a")
    encoders = tmp_path / "a" / "zip2zip_encoders.safetensors"
    tensors = load_file(str(encoders))
    name = next(k for k in tensors if k.startswith("input_encoder."))
    save_file({**tensors, name: tensors[name].to(torch.int64)}, str(encoders))
    with pytest.raises(ModelMismatchError, match=rf"{name} holds torch.int64 values"):
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "a")
    encoders.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelMismatchError, match="not a readable safetensors file"):
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "a")
    config = tmp_path / "a" / "zip2zip_config.json"
    data = json.loads(config.read_text())
    data["base_model_name_or_path"] = str(tmp_path / "gone")
    config.write_text(json.dumps(data))
    started = time.monotonic()
    with pytest.raises(ModelMismatchError, match="no model directory at"):
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "a")
    assert time.monotonic() - started < 5  # no hub retries for a local path
