"""Worker of the 2-process test: ``torchrun --nproc-per-node N ddp_train.py OUT BATCH STEPS``
trains the shared tiny run with ``BATCH`` windows per process and writes the losses and the health
signals (rank 0)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path[:0] = [os.path.dirname(__file__), os.path.dirname(os.path.dirname(__file__))]

import train_setup  # noqa: E402


def run(out: str, batch: int, steps: int) -> Any:
    """The shared run with ``batch`` windows per process for ``steps`` steps (its trainer)."""
    tok = train_setup.tokenizer()
    trainer = train_setup.trainer(
        out,
        tok,
        train_setup.model(tok),
        train_setup.dataset(tok, documents=32),
        per_device_train_batch_size=batch,
        max_steps=steps,
        ddp_backend="gloo" if "WORLD_SIZE" in os.environ else None,
    )
    trainer.train()
    return trainer


def main() -> None:
    out, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    trainer = run(out, batch, steps)
    if trainer.is_world_process_zero():
        with open(os.path.join(out, "losses.json"), "w", encoding="utf-8") as file:
            history = trainer.state.log_history
            json.dump(
                {"losses": train_setup.losses(history), "health": train_setup.health(history)}, file
            )


if __name__ == "__main__":
    main()
