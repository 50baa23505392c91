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
        HyperEncoderConfig(kind="mlp"),
        HyperEncoderConfig(kind="mlp", tie_encoders=True, hidden_size=8, num_hidden_layers=2),
        HyperEncoderConfig(kind="transformer", input_residual="last"),
        HyperEncoderConfig(kind="mlp", input_residual="last"),
    ],
    ids=[
        "mean",
        "transformer",
        "narrow-tied-causal",
        "mlp",
        "narrow-tied-mlp",
        "transformer-last",
        "mlp-last",
    ],
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


def lora_checkpoint(directory: Path, base: Path | str) -> Any:
    """A LoRA model with a token-type head on the base model saved at ``base``, saved in
    ``directory`` (every weight file of a training output: encoders, head, adapter)."""
    peft = pytest.importorskip("peft")
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    model = Zip2ZipForCausalLM.from_base(
        base, config(), TRANSFORMER, lora=lora, token_type_head=True
    )
    randomize(model, seed=5)
    model.save_pretrained(directory)
    return model


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize(
    ("file", "prefix"),
    [
        ("zip2zip_encoders.safetensors", "input_encoder."),
        ("zip2zip_encoders.safetensors", "output_encoder."),
        ("zip2zip_encoders.safetensors", "token_type_head."),
        ("adapter_model.safetensors", "base_model."),
    ],
    ids=["input-encoder", "output-encoder", "token-type-head", "adapter"],
)
def test_non_finite_weights_are_refused_at_load_naming_file_and_tensor(
    tmp_path: Path, file: str, prefix: str, value: float
) -> None:
    """Loading them would give a model whose every score is NaN (an ``eval`` table of nan)."""
    from zip2zip_tokenizers.torch import NonFiniteWeightError
    from zip2zip_tokenizers.torch.training.checkpoints import load_training_model

    base = tmp_path / "base"
    tiny_model("llama", V).save_pretrained(base)
    model = lora_checkpoint(tmp_path / "ckpt", base)
    path = tmp_path / "ckpt" / file
    tensors = load_file(str(path))
    name = sorted(k for k in tensors if k.startswith(prefix) and tensors[k].is_floating_point())[0]
    damaged = tensors[name].clone()
    damaged.view(-1)[0] = value
    save_file({**tensors, name: damaged}, str(path))
    with pytest.raises(NonFiniteWeightError, match=rf"{file}: {name} holds") as caught:
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "ckpt")
    assert isinstance(caught.value, ModelMismatchError)
    # The training checkpoint loader (a resume) refuses it too, before changing the live model.
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(NonFiniteWeightError, match=rf"{file}: {name} holds"):
        load_training_model(model, tmp_path / "ckpt")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_base_given_as_a_relative_path_is_recorded_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint then loads from any working directory; the adapter's own config (which
    peft and the authors' runtime read) names the same directory."""
    tiny_model("llama", V).save_pretrained(tmp_path / "models" / "base")
    monkeypatch.chdir(tmp_path / "models")
    model = lora_checkpoint(tmp_path / "ckpt", "base")
    assert model.base_model_name_or_path == str(tmp_path.resolve() / "models" / "base")
    adapter = json.loads((tmp_path / "ckpt" / "adapter_config.json").read_text())
    config_file = json.loads((tmp_path / "ckpt" / "zip2zip_config.json").read_text())
    expected = str((tmp_path / "models" / "base").resolve())
    assert adapter["base_model_name_or_path"] == config_file["base_model_name_or_path"] == expected
    monkeypatch.chdir(tmp_path)
    loaded = Zip2ZipForCausalLM.from_pretrained(tmp_path / "ckpt").eval()
    assert torch.equal(logits_of(loaded), logits_of(model.eval()))


def test_a_relative_base_recorded_by_an_older_output_is_read_from_the_output_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_model("llama", V).save_pretrained(tmp_path / "run" / "base")
    model = lora_checkpoint(tmp_path / "run" / "ckpt", tmp_path / "run" / "base")
    config_file = tmp_path / "run" / "ckpt" / "zip2zip_config.json"
    data = json.loads(config_file.read_text())
    data["base_model_name_or_path"] = "../base"
    config_file.write_text(json.dumps(data))
    monkeypatch.chdir(tmp_path)  # where "../base" names nothing
    loaded = Zip2ZipForCausalLM.from_pretrained(tmp_path / "run" / "ckpt").eval()
    assert loaded.base_model_name_or_path == str((tmp_path / "run" / "base").resolve())
    assert torch.equal(logits_of(loaded), logits_of(model.eval()))


@pytest.mark.parametrize("reference", ["gone", "runs/gone/base", "~/gone", "../gone"])
def test_a_missing_base_is_a_typed_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: str
) -> None:
    """A path (two slashes, ``~``, ``..``) never goes to the hub; a bare name may be a hub
    model's, and its failure (offline here) is the same typed error, not transformers'
    ``OSError``."""
    import time

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tiny_model("llama", V).save_pretrained(tmp_path / "base")
    Zip2ZipForCausalLM.from_base(tmp_path / "base", config(), TRANSFORMER).save_pretrained(
        tmp_path / "ckpt"
    )
    config_file = tmp_path / "ckpt" / "zip2zip_config.json"
    data = json.loads(config_file.read_text())
    data["base_model_name_or_path"] = reference
    config_file.write_text(json.dumps(data))
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(ModelMismatchError, match=rf"{reference!r}") as caught:
        Zip2ZipForCausalLM.from_pretrained(tmp_path / "ckpt")
    assert "zip2zip_config.json" in str(caught.value)
    assert time.monotonic() - started < 5
