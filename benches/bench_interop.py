"""Ours against the authors' runtime (PyPI ``zip2zip==0.2.0``) on the same checkpoint, in one run.

SmolLM2-135M-Instruct (its bundled weights, fp32), a random-initialised ``res_latent_attn``
encoder both runtimes load (full width, no output projection), ``C=2048``, ``M=4``, the KwKwK
slot masked (their rule, so both write the same ids), a prompt of real Python code. Their
runtime runs in its own venv (``tests/torch/authors_runtime.py``) as a worker process that
times its own calls; rounds alternate between the two, best of N.

- prompt processing: a greedy ``generate`` of one id (prefill + one choice);
- per decode step: (``generate`` of ``1 + steps`` ids - ``generate`` of 1) / ``steps``;
- the floor: the plain base model (transformers' ``generate``, its default cache) on as many
  base ids as the prompt has ids, timed the same way in the same rounds.

With several ``--chars`` the same checkpoints are timed at each prompt length: their prompt pass
encodes all ``C`` rows whatever the prompt, ours the entries the prompt creates, and both run the
base model's forward over the prompt, so the prompt ratio depends on the prompt's length.

Usage: python benches/bench_interop.py [--chars 3000 ...] [--steps 32] [--repeats 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from zip2zip_tokenizers import Zip2ZipTokenizer
from zip2zip_tokenizers.torch import HyperEncoderConfig, Zip2ZipForCausalLM
from zip2zip_tokenizers.torch.bundled import smollm2_135m_instruct

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "torch"))
from authors_runtime import authors_python

WORKER = Path(__file__).with_name("authors_worker.py")
PROMPT_FILES = ["json/encoder.py", "json/decoder.py", "textwrap.py"]


def prompt_text(limit: int) -> str:
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text = "".join((stdlib / name).read_text(encoding="utf-8") for name in PROMPT_FILES)
    return text[:limit]


class Theirs:
    """Their runtime in a worker process of its own venv."""

    def __init__(self, checkpoint: Path) -> None:
        env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
        self.process = subprocess.Popen(
            [str(authors_python()), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ask({"op": "load", "checkpoint": str(checkpoint)})

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the authors' runtime stopped")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def generate(self, ids: list[int], new: int) -> tuple[float, list[int]]:
        answer = self.ask({"op": "generate", "ids": ids, "new": new})
        return float(answer["seconds"]), list(answer["sequence"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def ours_generate(model: Any, ids: list[int], new: int) -> tuple[float, list[int]]:
    prompt = torch.tensor([ids])
    start = time.perf_counter()
    out = model.generate(prompt, max_new_tokens=new, eos_token_id=[])
    return time.perf_counter() - start, out[0].tolist()


def base_generate(model: Any, ids: list[int], new: int) -> tuple[float, list[int]]:
    """The plain base model through transformers' ``generate`` (its own cache), on base ids."""
    prompt = torch.tensor([ids])
    start = time.perf_counter()
    out = model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=new,
        min_new_tokens=new,
        do_sample=False,
    )
    return time.perf_counter() - start, out[0].tolist()


def time_prompt(
    model: Any, plain: Any, theirs: Theirs, ids: list[int], base_ids: list[int], args: Any
) -> dict[str, Any]:
    """Best-of-``repeats`` prompt and step times of ours, theirs and the plain base model."""
    names = ["ours1", "oursN", "their1", "theirN", "base1", "baseN"]
    times: dict[str, list[float]] = {k: [] for k in names}
    sequences: dict[str, list[int]] = {}
    for _ in range(args.repeats):
        runs = [
            ("ours", lambda n: ours_generate(model, ids, n)),
            ("their", lambda n: theirs.generate(ids, n)),
            ("base", lambda n: base_generate(plain, base_ids, n)),
        ]
        for name, run in runs:
            seconds, _ = run(1)
            times[f"{name}1"].append(seconds)
            seconds, sequence = run(1 + args.steps)
            times[f"{name}N"].append(seconds)
            sequences[name] = sequence
    best = {k: min(v) for k, v in times.items()}
    ours_step = (best["oursN"] - best["ours1"]) / args.steps
    their_step = (best["theirN"] - best["their1"]) / args.steps
    base_step = (best["baseN"] - best["base1"]) / args.steps
    return {
        "prompt_ids": len(ids),
        "same_generated_ids": sequences["ours"] == sequences["their"],
        "prompt_ms": {
            "ours": 1e3 * best["ours1"],
            "theirs": 1e3 * best["their1"],
            "base": 1e3 * best["base1"],
        },
        "prompt_speedup": best["their1"] / best["ours1"],
        "step_ms": {"ours": 1e3 * ours_step, "theirs": 1e3 * their_step, "base": 1e3 * base_step},
        "step_ratio": ours_step / their_step,
        "step_overhead_vs_base": ours_step / base_step - 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, nargs="+", default=[3000])
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--codebook", type=int, default=2048)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    base = smollm2_135m_instruct()
    tok = Zip2ZipTokenizer.from_pretrained(base, max_codebook_size=args.codebook, max_subtokens=4)
    encoder = HyperEncoderConfig(kind="transformer", output_projection=False)
    model = Zip2ZipForCausalLM.from_base(
        base, tok.config, encoder, kwkwk_slot="masked", dtype=torch.float32
    ).eval()
    generator = torch.Generator().manual_seed(0)
    for p in [*model.input_encoder.parameters(), *model.output_encoder.parameters()]:
        p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
    plain = model.base_model
    plain.generation_config.pad_token_id = tok.base_tokenizer.eos_token_id
    by_length: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = Path(directory)
        model.save_pretrained(checkpoint, authors_compatible=True)
        tok.save_pretrained(checkpoint)
        theirs = Theirs(checkpoint)
        try:
            for chars in args.chars:
                text = prompt_text(chars)
                ids = tok.encode(text)
                # The floor: the same base model on as many base ids (the same KV cache length).
                base_ids = tok.base_tokenizer.encode(text)[: len(ids)]
                timing = time_prompt(model, plain, theirs, ids, base_ids, args)
                by_length.append(
                    {"chars": chars, "prompt_base_tokens": len(tok.base_tokenizer.encode(text))}
                    | timing
                )
        finally:
            theirs.close()

    results = {
        "model": "SmolLM2-135M-Instruct fp32, res_latent_attn encoder, kwkwk masked",
        "codebook": args.codebook,
        "steps": args.steps,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        # The first length's figures at the top level, as one-length runs always wrote them.
        **by_length[0],
        "by_prompt_length": by_length,
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
