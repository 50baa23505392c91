"""Generation with hypertokens against the same base model, in one run.

Sections:
  a  per-step overhead of Zip2ZipForCausalLM.generate (greedy, KV cache, C=2048, M=4) over the
     same base model's own greedy loop with the KV cache, on Llama models built from configs
     (d = 512 and 1024) with a real vocabulary (SmolLM2's, 49,152 ids); ours with C=0 too.
  b  the same on SmolLM2-135M-Instruct (d = 576, 30 layers): the real bundled weights, or with
     --model-dir a directory holding only its config and tokenizer, random weights of the same
     shape (timing does not depend on the weights).

  d  base tokens per second on repetitive text when the model writes hypertokens: the
     continuation is forced (a prompt's next 3000 characters, as the canonical hypertoken ids a
     trained model would write, vs its base ids for the base model), each step still running
     the model and choosing an id, so the per-step cost is real and only the choice is fixed.
  c  checks on the device before timing: without a codebook the logits equal the base model's
     exactly; incremental (KV cache) logits equal one full forward's (fp32).

Timings are best-of-N of interleaved runs. Usage:
  python benches/bench_model.py [--device cpu|cuda] [--steps 32] [--repeats 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from zip2zip_tokenizers import Zip2ZipTokenizer
from zip2zip_tokenizers.torch import HyperEncoderConfig, Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.bundled import smollm2_135m_instruct

PROMPT_FILES = ["json/encoder.py", "json/decoder.py", "textwrap.py"]


def prompt_text(limit: int) -> str:
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text = "".join((stdlib / name).read_text(encoding="utf-8") for name in PROMPT_FILES)
    return text[:limit]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def best_of(fn: Callable[[], Any], repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def base_greedy(model: Any, ids: torch.Tensor, steps: int) -> None:
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    for _ in range(steps):
        chosen = out.logits[:, -1].argmax(-1, keepdim=True)
        out = model(
            input_ids=chosen, past_key_values=out.past_key_values, use_cache=True, logits_to_keep=1
        )


@torch.no_grad()
def base_prefill(model: Any, ids: torch.Tensor) -> None:
    model(input_ids=ids, use_cache=True, logits_to_keep=1)


def measure(
    name: str,
    base: Any,
    tok: Zip2ZipTokenizer,
    text: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    device, steps, repeats = args.device, args.steps, args.repeats
    ours = Zip2ZipForCausalLM(base, tok.config, HyperEncoderConfig(kind="mean")).eval()
    plain = Zip2ZipForCausalLM(
        base,
        Zip2ZipTokenizer.from_pretrained(tok.base_tokenizer, max_codebook_size=0).config,
        HyperEncoderConfig(kind="mean"),
    ).eval()
    batch = {k: v.to(device) for k, v in tok([text], return_tensors="pt").items()}
    base_ids = torch.tensor([tok.to_base_ids(batch["input_ids"][0])], device=device)
    plain_ids = base_ids

    def run_ours(model: Zip2ZipForCausalLM, ids: torch.Tensor, n: int) -> Any:
        return model.generate(ids, max_new_tokens=n, eos_token_id=[], return_dict_in_generate=True)

    # Warm up every path once (allocator, kernels, Triton compilation on CUDA).
    base_greedy(base, base_ids, 2)
    run_ours(ours, batch["input_ids"], 3)
    run_ours(plain, plain_ids, 3)
    result: dict[str, Any] = {"name": name, "prompt_base_tokens": base_ids.shape[1]}
    result["prompt_ids"] = batch["input_ids"].shape[1]
    timings: dict[str, list[float]] = {k: [] for k in ["base", "ours", "plain", "bp", "op", "pp"]}
    for _ in range(repeats):
        timings["bp"].append(best_of(lambda: base_prefill(base, base_ids), 1, device))
        timings["op"].append(best_of(lambda: run_ours(ours, batch["input_ids"], 1), 1, device))
        timings["pp"].append(best_of(lambda: run_ours(plain, plain_ids, 1), 1, device))
        timings["base"].append(best_of(lambda: base_greedy(base, base_ids, steps), 1, device))
        timings["ours"].append(
            best_of(lambda: run_ours(ours, batch["input_ids"], steps + 1), 1, device)
        )
        timings["plain"].append(best_of(lambda: run_ours(plain, plain_ids, steps + 1), 1, device))
    best = {k: min(v) for k, v in timings.items()}
    result["prefill_ms"] = {"base": 1e3 * best["bp"], "ours": 1e3 * best["op"]}
    result["step_ms"] = {
        k: 1e3 * (best[k] - best[{"base": "bp", "ours": "op", "plain": "pp"}[k]]) / steps
        for k in ["base", "ours", "plain"]
    }
    result["overhead"] = result["step_ms"]["ours"] / result["step_ms"]["base"] - 1
    result["overhead_c0"] = result["step_ms"]["plain"] / result["step_ms"]["base"] - 1
    out = run_ours(ours, batch["input_ids"], steps + 1)
    result["base_tokens_per_step"] = out.base_tokens[0] / out.steps
    result["base_tokens_per_s"] = {
        "base": (steps + 1) / best["base"],
        "ours": out.base_tokens[0] / best["ours"],
    }
    return result


@torch.no_grad()
def forced_base(model: Any, prompt: torch.Tensor, continuation: list[int]) -> None:
    out = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
    device = prompt.device
    for token in continuation:
        out.logits[:, -1].argmax(-1)
        step = torch.tensor([[token]], device=device)
        out = model(
            input_ids=step, past_key_values=out.past_key_values, use_cache=True, logits_to_keep=1
        )


@torch.no_grad()
def forced_ours(model: Zip2ZipForCausalLM, prompt: torch.Tensor, continuation: list[int]) -> None:
    state = model.new_state(1)
    out = model(prompt, state=state, use_cache=True, logits_to_keep=1)
    device = prompt.device
    for token in continuation:
        out.logits[:, -1].argmax(-1).cpu()
        step = np.array([[token]])
        view = state.update(step, None)
        out = model._forward_fed(
            torch.from_numpy(step).to(device),
            None,
            None,
            position_ids=None,
            state=state,
            view=view,
            past_key_values=out.past_key_values,
            use_cache=True,
            logits_to_keep=1,
        )


def measure_forced(
    base: Any, tok: Zip2ZipTokenizer, text: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Section d: a prompt, then its continuation forced as hypertokens (ours) or base ids."""
    device = args.device
    ours = Zip2ZipForCausalLM(base, tok.config, HyperEncoderConfig(kind="mean")).eval()
    whole = tok([text], return_tensors="pt")["input_ids"][0].tolist()
    prompt_chars = len(text) // 2
    prompt_ids = tok([text[:prompt_chars]], return_tensors="pt")["input_ids"][0].tolist()
    # The whole text's canonical ids start with the prompt's except at the seam: cut at a
    # position whose base prefix is exactly the prompt's base ids.
    base_prompt = tok.to_base_ids(prompt_ids)
    cut = next(i for i in range(len(whole)) if len(tok.to_base_ids(whole[:i])) >= len(base_prompt))
    prompt_t = torch.tensor([whole[:cut]], device=device)
    continuation = whole[cut:]
    base_all = tok.to_base_ids(whole)
    base_cut = len(tok.to_base_ids(whole[:cut]))
    base_prompt_t = torch.tensor([base_all[:base_cut]], device=device)
    base_continuation = base_all[base_cut:]
    forced_base(base, base_prompt_t, base_continuation[:4])
    forced_ours(ours, prompt_t, continuation[:4])
    times = {"base": [], "ours": []}
    for _ in range(args.repeats):
        times["base"].append(
            best_of(lambda: forced_base(base, base_prompt_t, base_continuation), 1, device)
        )
        times["ours"].append(best_of(lambda: forced_ours(ours, prompt_t, continuation), 1, device))
    best = {k: min(v) for k, v in times.items()}
    return {
        "base_tokens": len(base_continuation),
        "steps": {"base": len(base_continuation), "ours": len(continuation)},
        "seconds": best,
        "base_tokens_per_s": {k: len(base_continuation) / v for k, v in best.items()},
        "speedup": best["base"] / best["ours"],
    }


@torch.no_grad()
def check_device(tok: Zip2ZipTokenizer, text: str, device: str) -> dict[str, float | bool]:
    base = config_model(512, 4, tok.config.initial_vocab_size, device, torch.float32)
    batch = {k: v.to(device) for k, v in tok([text[:1500]], return_tensors="pt").items()}
    ids = batch["input_ids"]
    zero = Zip2ZipTokenizer.from_pretrained(tok.base_tokenizer, max_codebook_size=0).config
    plain = Zip2ZipForCausalLM(base, zero, HyperEncoderConfig(kind="mean")).eval()
    base_ids = torch.tensor([tok.to_base_ids(ids[0])], device=device)
    mask = torch.ones_like(base_ids)
    same = torch.equal(
        plain(base_ids, mask).logits, base(input_ids=base_ids, attention_mask=mask).logits
    )
    model = Zip2ZipForCausalLM(base, tok.config, HyperEncoderConfig(kind="transformer")).eval()
    full = model(ids).logits[0]
    state = model.new_state(1)
    out = model(ids[:, :8], state=state, use_cache=True)
    steps = [out.logits[0]]
    for t in range(8, ids.shape[1]):
        out = model(
            ids[:, t : t + 1],
            torch.ones((1, t + 1), dtype=torch.long, device=device),
            state=state,
            past_key_values=out.past_key_values,
            use_cache=True,
        )
        steps.append(out.logits[0])
    incremental = torch.cat(steps)
    finite = torch.isfinite(full)
    same_mask = torch.equal(finite, torch.isfinite(incremental))
    gap = (incremental[finite] - full[finite]).abs().max().item()
    return {"c0_logits_equal": same, "inf_masks_equal": same_mask, "max_abs_diff": gap}


def config_model(hidden: int, layers: int, vocab: int, device: str, dtype: torch.dtype) -> Any:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        num_key_value_heads=hidden // 64,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).to(device=device, dtype=dtype).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt-chars", type=int, default=3000)
    parser.add_argument("--sections", default="cabd")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--model-dir", type=Path, help="SmolLM2 directory (default: bundled)")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    path = args.model_dir or smollm2_135m_instruct()
    tok = Zip2ZipTokenizer.from_pretrained(path, max_codebook_size=2048, max_subtokens=4)
    text = prompt_text(args.prompt_chars)
    results = []
    if "c" in args.sections:
        print("checks:", check_device(tok, text, args.device))
    if "a" in args.sections:
        for hidden, layers in [(512, 8), (1024, 8)]:
            base = config_model(hidden, layers, tok.config.initial_vocab_size, args.device, dtype)
            results.append(measure(f"llama d={hidden} L={layers}", base, tok, text, args))
    if "b" in args.sections:
        from transformers import AutoConfig, AutoModelForCausalLM

        name = "SmolLM2-135M"
        if (path / "model.safetensors").is_file():
            base = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        else:
            torch.manual_seed(0)
            base = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
            name += " (random weights)"
        base = base.to(device=args.device, dtype=dtype).eval()
        results.append(measure(name, base, tok, text, args))
    forced = []
    if "d" in args.sections:
        forced_text = prompt_text(2 * args.prompt_chars + 6000)[-6000:]
        for hidden, layers in [(512, 8), (1024, 8)]:
            base = config_model(hidden, layers, tok.config.initial_vocab_size, args.device, dtype)
            forced.append(
                {
                    "name": f"llama d={hidden} L={layers}",
                    **measure_forced(base, tok, forced_text, args),
                }
            )
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device: {device_name}, {dtype}, {args.steps} greedy steps, C=2048, M=4")
    header = (
        "| model | prompt ids (base) | prefill ms base / ours | step ms base / ours / ours C=0 "
    )
    print(header + "| overhead (C=0) |")
    print("|---|---|---|---|---|")
    for r in results:
        p, s = r["prefill_ms"], r["step_ms"]
        print(
            f"| {r['name']} | {r['prompt_ids']} ({r['prompt_base_tokens']}) "
            f"| {p['base']:.1f} / {p['ours']:.1f} "
            f"| {s['base']:.2f} / {s['ours']:.2f} / {s['plain']:.2f} "
            f"| {100 * r['overhead']:+.1f} % ({100 * r['overhead_c0']:+.1f} %) |"
        )
    if forced:
        print()
        print("| model (forced) | steps base / ours | base tok/s base / ours | speed-up |")
        print("|---|---|---|---|")
        for f in forced:
            st, bt = f["steps"], f["base_tokens_per_s"]
            print(
                f"| {f['name']} | {st['base']} / {st['ours']} "
                f"| {bt['base']:.0f} / {bt['ours']:.0f} | {f['speedup']:.2f}x |"
            )
    if args.json:
        payload = {"device": device_name, "results": results, "forced": forced}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
