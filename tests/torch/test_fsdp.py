"""Training under FSDP2 on 2 CPU processes (gloo) equals one process with the same global batch,
with a LoRA adapter and fully fine-tuned, and through the ``train`` command: the same losses, the
same saved weights (gathered from the shards on the saving process), a saved model that reloads
and generates the same ids, and a resume from a checkpoint written under FSDP that continues as
the uninterrupted run did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import fsdp_train  # noqa: E402
import train_setup  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM  # noqa: E402

HERE = Path(__file__).parent


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def base_and_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A base model directory (the tiny model, its tokenizer) and a JSONL corpus for ``train``."""
    import random

    directory = tmp_path_factory.mktemp("base")
    tok = train_setup.tokenizer()
    train_setup.model(tok).base_model.save_pretrained(directory)
    tok.base_tokenizer.save_pretrained(directory)
    rng = random.Random(1)
    text = directory / "corpus.jsonl"
    lines = [json.dumps({"text": train_setup.document(rng, 20)}) for _ in range(24)]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(directory), str(text)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory, base_and_text: tuple[str, str]) -> Path:
    """One 2-process launch trains every variant (a launch is most of the time)."""
    out = tmp_path_factory.mktemp("fsdp")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node=2", str(HERE / "fsdp_train.py"), str(out), *base_and_text]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def weights(directory: Path) -> dict[str, torch.Tensor]:
    """Every tensor a saved model directory holds, keyed by file and name."""
    found = {
        f"{file.relative_to(directory)}:{name}": tensor
        for file in sorted(directory.rglob("*.safetensors"))
        for name, tensor in load_file(str(file)).items()
    }
    assert found, f"no weights in {directory}"
    return found


# Sharded gradients add up in another order, and Adam divides each element by its own scale,
# which magnifies that where a gradient is small: in the MLP encoders' first layers, whose
# slots for a 3rd and 4th base token few entries fill (measured: 1.4e-5 and 3.5e-6 against
# at most 2.4e-7 in every other weight).
MAGNIFIED = ("input_encoder.layers.0.", "output_encoder.layers.0.")


def assert_same_weights(saved: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> None:
    assert saved.keys() == reference.keys()
    for name, tensor in reference.items():
        atol = 1e-4 if any(part in name for part in MAGNIFIED) else 1e-5
        torch.testing.assert_close(saved[name], tensor, rtol=1e-4, atol=atol, msg=name)


@pytest.mark.parametrize("lora_r", fsdp_train.LORA_RANKS)
def test_fsdp_on_two_processes_equals_one(two_processes: Path, tmp_path: Path, lora_r: int) -> None:
    alone = fsdp_train.run(str(tmp_path), lora_r)
    alone.save_model(str(tmp_path / "final"))
    expected = train_setup.losses(alone.state.log_history)
    fsdp = two_processes / f"lora{lora_r}"
    result = json.loads((fsdp / "losses.json").read_text())
    # The decoder layers and the root (embeddings, head, encoders) are sharded: not DDP.
    assert result["sharded_modules"] == 3
    assert len(expected) == fsdp_train.STEPS
    torch.testing.assert_close(result["losses"], expected, rtol=1e-4, atol=1e-5)
    # Each part's gradient norm adds up its shards (DTensors) over the processes.
    health = train_setup.health(alone.state.log_history)
    assert {"grad_norm_encoders", "grad_norm_token_type_head"} <= health[0].keys()
    torch.testing.assert_close(result["health"], health, rtol=1e-4, atol=1e-5)
    # Steps 1-2 come from the checkpoint's history, step 3 is trained again after the resume.
    torch.testing.assert_close(result["resumed"], expected, rtol=1e-4, atol=1e-5)

    assert_same_weights(weights(fsdp / "final"), weights(tmp_path / "final"))

    tok = train_setup.tokenizer()
    prompt = torch.tensor([tok.encode("the cat sat on a mat and the")])
    generated = [
        Zip2ZipForCausalLM.from_pretrained(directory).generate(prompt, max_new_tokens=8)
        for directory in (fsdp / "final", tmp_path / "final")
    ]
    assert generated[0].shape[1] > prompt.shape[1]
    assert torch.equal(generated[0], generated[1])


def test_the_train_command_under_fsdp_equals_one_process(
    two_processes: Path, base_and_text: tuple[str, str], tmp_path: Path
) -> None:
    from zip2zip_tokenizers.cli import main

    assert main(fsdp_train.command(*base_and_text, str(tmp_path), 1)) == 0
    fsdp = two_processes / "cli"
    # The Trainer's own FSDP state beside the model's checkpoint: the processes were sharded.
    assert (fsdp / f"checkpoint-{fsdp_train.SAVE_STEPS}" / "pytorch_model_fsdp.bin").is_file()
    losses = [
        train_setup.losses(json.loads((run / "trainer_state.json").read_text())["log_history"])
        for run in (fsdp / f"checkpoint-{fsdp_train.STEPS}", tmp_path / "checkpoint-3")
    ]
    assert len(losses[1]) == fsdp_train.STEPS
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-5)
    assert_same_weights(weights(fsdp), weights(tmp_path))


@pytest.fixture
def one_process_group(tmp_path: Path) -> Any:
    import torch.distributed as dist

    store = f"file://{tmp_path / 'store'}"
    dist.init_process_group("gloo", init_method=store, rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("side", ["input", "output"])
def test_an_embedding_table_sharded_on_its_own_is_refused(
    one_process_group: None, side: str
) -> None:
    from torch.distributed.fsdp import fully_shard
    from zip2zip_tokenizers.torch.errors import ModelMismatchError

    tok = train_setup.tokenizer()
    model = train_setup.model(tok)
    base = model.base_model
    fully_shard(base.get_input_embeddings() if side == "input" else base.get_output_embeddings())
    fully_shard(model)
    ids = torch.tensor([tok.encode("the cat sat on")])
    with pytest.raises(ModelMismatchError, match=f"{side} embeddings .* sharded by FSDP"):
        model(ids, labels=ids, return_logits=False)


def test_the_model_names_its_base_layers_for_fsdp_wrapping() -> None:
    tok = train_setup.tokenizer()
    for lora_r in (0, 4):
        assert train_setup.model(tok, lora_r=lora_r)._no_split_modules == ["LlamaDecoderLayer"]


def test_fsdp_asked_for_but_not_applied_warns_naming_what_runs() -> None:
    from types import SimpleNamespace

    from zip2zip_tokenizers.torch.training.fsdp import warn_fsdp_not_applied

    accelerator = SimpleNamespace(state=SimpleNamespace(distributed_type="MULTI_CPU"))
    with pytest.warns(UserWarning, match="runs these processes as MULTI_CPU, without FSDP"):
        warn_fsdp_not_applied(accelerator)


def test_sharded_state_dicts_are_refused_naming_the_setting() -> None:
    from types import SimpleNamespace

    from zip2zip_tokenizers.torch.training import TrainingError
    from zip2zip_tokenizers.torch.training.fsdp import require_full_state_dict

    require_full_state_dict(SimpleNamespace(state_dict_type="StateDictType.FULL_STATE_DICT"))
    sharded = SimpleNamespace(state_dict_type="StateDictType.SHARDED_STATE_DICT")
    with pytest.raises(TrainingError, match=r"SHARDED_STATE_DICT.*set fsdp_state_dict_type"):
        require_full_state_dict(sharded)
