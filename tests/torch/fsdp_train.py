"""Worker of the FSDP test: ``torchrun --nproc-per-node 2 fsdp_train.py OUT [MODEL DATA]``
trains the shared tiny run (with a LoRA adapter in ``OUT/lora4``; fully fine-tuned, its embeddings
tied, in ``OUT/lora0``) for 3 steps under FSDP2 with 2 windows per process, saving
``checkpoint-2``; saves the model in ``final``; then resumes a fresh run from ``checkpoint-2``.
Rank 0 writes the losses of both runs, the first run's health signals (accuracies, gradient norms
of each part) and how many modules were sharded to ``losses.json``. With
``MODEL DATA``, the ``train`` command then runs the same way under FSDP2, into ``OUT/cli``.
:func:`run` and :func:`command` with one process are the reference runs."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path[:0] = [os.path.dirname(__file__), os.path.dirname(os.path.dirname(__file__))]

import train_setup  # noqa: E402
from transformers import Trainer  # noqa: E402
from zip2zip_tokenizers.torch.training import Zip2ZipTrainer  # noqa: E402

STEPS = 3
GLOBAL_BATCH = 4
SAVE_STEPS = 2
# No transformer_layer_cls_to_wrap: accelerate wraps the model's ``_no_split_modules``.
FSDP2 = {"version": 2}
LORA_RANKS = (4, 0)
# What ``accelerate launch`` with an FSDP2 config tells the processes (accelerate/utils/launch.py).
USE_FSDP = "ACCELERATE_USE_FSDP"
LAUNCH_FSDP2 = {
    USE_FSDP: "true",
    "FSDP_VERSION": "2",
    "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
    "FSDP_STATE_DICT_TYPE": "FULL_STATE_DICT",
}


def command(model_dir: str, data: str, out: str, processes: int) -> list[str]:
    """``zip2zip-tokenizers train`` for the CLI part: 3 steps of 4 windows over ``processes``."""
    return [
        "train", "--model", model_dir, "--data", data, "--output", out, "--window", "64",
        "--lora-r", "4", "--encoder-layers", "1", "--max-codebook-size", "64",
        "--logging-steps", "1", "--save-steps", str(SAVE_STEPS), "--max-steps", str(STEPS),
        "--batch-size", str(GLOBAL_BATCH // processes),
    ]  # fmt: skip


def lift_cpu_gate(trainer: Any) -> None:
    """accelerate 1.15 never turns FSDP on for CPU processes (``AcceleratorState.__init__``
    switches to ``DistributedType.FSDP`` only for GPU-like distributed types, so ``MULTI_CPU``
    stays DDP). torch's FSDP2 itself shards on CPU with gloo, so the test switches accelerate to
    FSDP after it chose, as it does itself on a GPU: with the plugin of the training arguments,
    else the one ``accelerate launch``'s ``FSDP_*`` variables describe."""
    Trainer.create_accelerator_and_postprocess(trainer)
    asked = trainer.args.fsdp_plugin_args
    if trainer.is_fsdp_enabled or (asked is None and os.environ.get(USE_FSDP) != "true"):
        return
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = trainer.accelerator.state
    state.fsdp_plugin = FullyShardedDataParallelPlugin(**(asked or {}))
    if state.mixed_precision != "no":
        state.fsdp_plugin.set_mixed_precision(state.mixed_precision)
    state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    trainer.is_fsdp_enabled = True


class CpuFsdpTrainer(Zip2ZipTrainer):
    """``Zip2ZipTrainer`` that shards on CPU too (:func:`lift_cpu_gate`)."""

    create_accelerator_and_postprocess = lift_cpu_gate


def run(out: str, lora_r: int, processes: int = 1, resume: str | None = None) -> Any:
    """The shared run, the global batch split over ``processes``; FSDP2 when ``processes > 1``."""
    tok = train_setup.tokenizer()
    settings: dict[str, Any] = {
        "per_device_train_batch_size": GLOBAL_BATCH // processes,
        "max_steps": STEPS,
        "save_strategy": "steps",
        "save_steps": SAVE_STEPS,
    }
    if processes > 1:
        settings |= {"ddp_backend": "gloo", "fsdp": True, "fsdp_config": dict(FSDP2)}
    trainer = CpuFsdpTrainer(
        model=train_setup.model(tok, lora_r=lora_r, tied=lora_r == 0),
        args=train_setup.arguments(out, **settings),
        train_dataset=train_setup.dataset(tok, documents=32),
        processing_class=tok,
    )
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def sharded_modules(trainer: Any) -> int:
    from torch.distributed.fsdp import FSDPModule

    return sum(isinstance(module, FSDPModule) for module in trainer.model.modules())


def main() -> None:
    processes = int(os.environ["WORLD_SIZE"])
    for lora_r in LORA_RANKS:
        out = os.path.join(sys.argv[1], f"lora{lora_r}")
        trainer = run(out, lora_r, processes)
        trainer.save_model(os.path.join(out, "final"))
        checkpoint = os.path.join(out, f"checkpoint-{SAVE_STEPS}")
        resumed = run(os.path.join(out, "resumed"), lora_r, processes, resume=checkpoint)
        if trainer.is_world_process_zero():
            result = {
                "losses": train_setup.losses(trainer.state.log_history),
                "health": train_setup.health(trainer.state.log_history),
                "resumed": train_setup.losses(resumed.state.log_history),
                "sharded_modules": sharded_modules(trainer),
            }
            with open(os.path.join(out, "losses.json"), "w", encoding="utf-8") as file:
                json.dump(result, file)
    if len(sys.argv) > 2:
        # The train command, as under ``accelerate launch`` with an FSDP2 config.
        from zip2zip_tokenizers.cli import main as cli

        os.environ.update(LAUNCH_FSDP2)
        Zip2ZipTrainer.create_accelerator_and_postprocess = lift_cpu_gate  # type: ignore[method-assign]
        out = os.path.join(sys.argv[1], "cli")
        assert cli(command(sys.argv[2], sys.argv[3], out, processes)) == 0


if __name__ == "__main__":
    main()
