"""Training throughput and peak memory: zip2zip against the control (``max_codebook_size=0``).

Same model, same text, same batch in base tokens: the control's windows are ``--window`` base
tokens of the ``train`` split of ``zip2zip_tokenizers.corpora`` (SmolLM2's tokenizer, 49,152
ids); zip2zip reads each of those same windows LZW-compressed (fewer ids). A step is what
``Zip2ZipTrainer`` does per batch: forward with the chunked loss over ``V + C``, backward,
gradient clipping, AdamW. Each configuration runs in its own process (peak resident memory is
per process), rounds interleaved, best round reported. Each run also reports the process's CPU
seconds over the timed steps: on a machine shared with other jobs, base tokens per CPU second
(with ``--threads 1``) compare the work each configuration does far more steadily than wall
time does.

    python benches/bench_training.py                      # tiny Llama (d=256, 4 layers)
    python benches/bench_training.py --model smollm2      # SmolLM2-135M-Instruct with LoRA
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results"
CONFIGS = ("control", "zip2zip", "zip2zip_full_logits")


def batches(tokenizer: Any, window: int, batch: int, count: int, codebook: int) -> list[Any]:
    """``count`` batches of ``batch`` windows of ``window`` base tokens each, compressed with
    ``codebook`` entries (0: as they are)."""
    import torch
    from zip2zip_tokenizers import CompressionConfig, LZWCompressor, corpora

    config = tokenizer.config
    codec = LZWCompressor(
        CompressionConfig(
            config.initial_vocab_size,
            codebook,
            config.max_subtokens,
            config.disabled_ids,
            config.pad_token_id,
        )
    )
    texts = [d.text for d in corpora.documents("train", ("code", "prose"), max_chars=20000)]
    stream: list[int] = []
    for text in texts:
        stream += tokenizer.base_tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(stream) >= window * batch * count:
            break
    out = []
    for b in range(count):
        rows = [
            codec.encode(stream[(b * batch + r) * window : (b * batch + r + 1) * window])
            for r in range(batch)
        ]
        width = max(len(r) for r in rows)
        ids = torch.full((batch, width), config.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.as_tensor(row)
            mask[r, : len(row)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        out.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return out


def build(model_name: str, codebook: int, device: str) -> tuple[Any, Any]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from zip2zip_tokenizers.torch.bundled import smollm2_135m_instruct
    from zip2zip_tokenizers.torch.training import Zip2ZipRecipe

    directory = smollm2_135m_instruct()
    recipe = Zip2ZipRecipe(max_codebook_size=codebook, lora_r=32 if model_name == "smollm2" else 0)
    tokenizer = recipe.tokenizer(directory, explicit=("max_codebook_size",))
    torch.manual_seed(0)
    if model_name == "smollm2":
        model = recipe.build(directory, tokenizer, dtype=torch.float32)
    else:
        base = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=tokenizer.initial_vocab_size,
                hidden_size=256,
                intermediate_size=1024,
                num_hidden_layers=4,
                num_attention_heads=4,
                num_key_value_heads=4,
                tie_word_embeddings=True,
            )
        )
        recipe.encoder_layers = 1
        model = recipe.build(base, tokenizer)
    return model.to(device).train(), tokenizer


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One configuration in this process: time ``--steps`` steps after ``--warmup``."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    codebook = 0 if args.config == "control" else args.codebook
    model, tokenizer = build(args.model, codebook, args.device)
    data = batches(tokenizer, args.window, args.batch, args.warmup + args.steps, codebook)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    full_logits = args.config == "zip2zip_full_logits"
    cuda = args.device.startswith("cuda")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    cpu_times = []
    for index, batch in enumerate(data):
        batch = {k: v.to(args.device) for k, v in batch.items()}
        if index == args.warmup and cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        cpu_started = time.process_time()
        out = model(**batch, return_logits=full_logits)
        (out.loss_sum / out.num_targets).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if index >= args.warmup:
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)
    base_tokens = args.window * args.batch
    ids = [int(b["attention_mask"].sum()) for b in data[args.warmup :]]
    seconds = sum(times)
    cpu_seconds = sum(cpu_times)
    return {
        "config": args.config,
        "steps": len(times),
        "seconds": seconds,
        "base_tokens_per_second": base_tokens * len(times) / seconds,
        "ids_per_second": sum(ids) / seconds,
        "cpu_seconds": cpu_seconds,
        "base_tokens_per_cpu_second": base_tokens * len(times) / cpu_seconds,
        "compression": base_tokens * len(times) / sum(ids),
        "peak_rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before)
        / 1024,
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("tiny", "smollm2"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--window", type=int, default=512, help="base tokens per window")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--codebook", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS), help="what to run"
    )
    parser.add_argument("--config", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS / "training_cpu.json"))
    args = parser.parse_args()
    if args.config:
        print(json.dumps(worker(args)))
        return
    if not {"control", "zip2zip"} <= set(args.configs):
        parser.error("--configs needs control and zip2zip")
    runs: dict[str, list[dict[str, Any]]] = {config: [] for config in args.configs}
    loads = []
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for config in args.configs:
            command = [sys.executable, __file__, *sys.argv[1:], "--config", config]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs[config].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(config, runs[config][-1], flush=True)
    loads.append(os.getloadavg()[0])
    best = {c: max(r, key=lambda x: x["base_tokens_per_second"]) for c, r in runs.items()}
    control, ours = best["control"], best["zip2zip"]
    least_cpu = {c: min(r, key=lambda x: x["cpu_seconds"]) for c, r in runs.items()}
    summary = {
        "throughput_ratio_base_tokens": ours["base_tokens_per_second"]
        / control["base_tokens_per_second"],
        "throughput_ratio_base_tokens_per_cpu_second": least_cpu["zip2zip"][
            "base_tokens_per_cpu_second"
        ]
        / least_cpu["control"]["base_tokens_per_cpu_second"],
        "peak_rss_growth_ratio": ours["peak_rss_growth_mb"] / control["peak_rss_growth_mb"],
        "load_average_1min": loads,
    }
    if "zip2zip_full_logits" in best:
        summary["peak_rss_growth_ratio_full_logits"] = (
            best["zip2zip_full_logits"]["peak_rss_growth_mb"] / control["peak_rss_growth_mb"]
        )
    if control["peak_cuda_mb"]:
        summary["peak_cuda_ratio"] = ours["peak_cuda_mb"] / control["peak_cuda_mb"]
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("config", "configs")},
        "configs": args.configs,
        "best": best,
        "runs": runs,
        "summary": summary,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
