"""Why an uptrained model writes few hypertokens when it generates (issue 19).

Probes one zip2zip checkpoint (``--model DIR``, as ``load_for_eval`` loads it) on held-out
code prompts and prints JSON lines:

1. ``consistency``: a greedy generation's ids fed back in one full forward; the argmax at
   each generated position must be the id generation chose, and the logits must agree.
2. ``teacher_forcing``: on held-out text, at positions whose canonical next id is a
   hypertoken, the probability of that hypertoken, of its own first base token, and of the
   other hypertokens that start with that base token; and the output-vector norms.
3. ``reencoding``: base tokens per id of the generated continuation as written and as the
   codec would re-encode it (prompt + continuation, greedy longest match).
4. ``type_mass``: on the same text, the softmax mass on hypertokens and the token-type head's
   probability of a hypertoken, where the next id is one and where it is not.
5. ``decoding``: greedy, sampled, greedy with a "prefer the longer id" rule (a hypertoken
   wins over its first base token when its probability is above ``1 / factor`` times that
   token's), greedy reading the canonical encoding of the text so far at each step, and
   "family" greedy (the first base token chosen by the mass of its whole family: itself and
   every hypertoken that starts with it; then a hypertoken of that family, the likeliest, when
   the family's hypertokens together outweigh the bare token); each with its compression, the
   re-encoded compression, and the bits per byte the base model (the judge, without
   hypertokens) gives the continuation.

Run: ``python benches/probe_generation.py --model DIR [--base DIR] [--probes decoding]``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForCausalLM
from uptraining import prompts
from zip2zip_tokenizers._core import LZWCompressor
from zip2zip_tokenizers.torch.evaluation import load_for_eval


def emit(kind: str, **fields: Any) -> None:
    print(json.dumps({"probe": kind, **fields}), flush=True)


@torch.no_grad()
def full_logits(model: Any, ids: list[int]) -> tuple[torch.Tensor, Any]:
    """Logits ``[T, V + C]`` of one forward over ``ids`` from empty codebooks, and the state."""
    state = model.new_state(1)
    out = model(torch.tensor([ids]), state=state)
    return out.logits[0].float(), state


@torch.no_grad()
def consistency(model: Any, tokenizer: Any, prompt: str, new: int) -> dict[str, Any]:
    prompt_ids = tokenizer([prompt], return_tensors="pt")["input_ids"]
    result: Any = model.generate(
        prompt_ids,
        max_new_tokens=new,
        do_sample=False,
        tokenizer=tokenizer,
        output_logits=True,
        return_dict_in_generate=True,
    )
    ids = result.sequences[0].tolist()
    start = prompt_ids.shape[1]
    logits, state = full_logits(model, ids)
    stepped = torch.stack([step[0].float() for step in result.logits])
    forced = logits[start - 1 : start - 1 + len(stepped)]
    finite = torch.isfinite(stepped) & torch.isfinite(forced)
    same_support = bool((torch.isfinite(stepped) == torch.isfinite(forced)).all())
    chosen = torch.tensor(ids[start : start + len(stepped)])
    return {
        "generated": len(stepped),
        "hyper_written": int((chosen >= model.initial_vocab_size).sum()),
        "argmax_agrees": int((forced.argmax(-1) == chosen).sum()),
        "same_finite_columns": same_support,
        "max_abs_logit_diff": float((stepped - forced).abs()[finite].max()),
        **missed_hypertokens(model, state, forced, result.generated_base_ids[0]),
        **canonical_reading(model, prompt_ids[0].tolist(), result.generated_base_ids[0]),
    }


@torch.no_grad()
def canonical_reading(model: Any, prompt_ids: list[int], written: list[int]) -> dict[str, Any]:
    """The same text read in its canonical encoding (the codec's, as in training): at its
    hypertoken targets in the generated part, the target's probability over its first base
    token's, and how often the target is the argmax."""
    vocab = model.initial_vocab_size
    codec = LZWCompressor(model.compression)
    prompt_base = codec.decode(prompt_ids).tolist()
    canonical = codec.encode(prompt_base + written).tolist()
    start = len(codec.encode(prompt_base))
    logits, state = full_logits(model, canonical)
    probs = logits.softmax(-1)
    ratios, wins = [], 0
    for t in range(start - 1, len(canonical) - 1):
        target = canonical[t + 1]
        if target >= vocab:
            first = state.base_ids(0, target)[0]
            ratios.append(float(probs[t, target] / probs[t, first]))
            wins += int(probs[t].argmax()) == target
    return {
        "canonical_hyper_targets": len(ratios),
        "canonical_median_p_target_over_p_first": float(np.median(ratios)) if ratios else None,
        "canonical_argmax_is_target": wins,
    }


def missed_hypertokens(
    model: Any, state: Any, logits: torch.Tensor, written: list[int]
) -> dict[str, Any]:
    """Steps of a base-token generation at which an existing hypertoken spelled exactly what
    the model went on to write, and how its probability compares with the base id written."""
    vocab = model.initial_vocab_size
    entries = [state.base_ids(0, vocab + k) for k in range(state_size(state, vocab))]
    probs = logits.softmax(-1)
    ratios = []
    for step in range(min(len(written), len(logits))):
        rest = written[step:]
        alive = torch.isfinite(logits[step, vocab : vocab + len(entries)])
        matching = [
            vocab + k
            for k, entry in enumerate(entries)
            if alive[k] and entry == rest[: len(entry)] and len(entry) <= len(rest)
        ]
        if matching:
            best = max(float(probs[step, m]) for m in matching)
            ratios.append(best / float(probs[step, rest[0]]))
    return {
        "steps_with_matching_hypertoken": len(ratios),
        "median_p_matching_hyper_over_p_written_base": float(np.median(ratios)) if ratios else None,
    }


@torch.no_grad()
def type_mass(model: Any, tokenizer: Any, texts: list[str]) -> dict[str, Any]:
    """On held-out text in its canonical encoding: the softmax mass on hypertokens and the
    token-type head's probability of "the next id is a hypertoken", where the next id is a
    hypertoken and where it is a base token (how well each tells the two apart)."""
    vocab = model.initial_vocab_size
    head = next(m for name, m in model.named_modules() if name.endswith("lm_head"))
    captured: dict[str, torch.Tensor] = {}
    hook = head.register_forward_hook(lambda _m, i, _o: captured.__setitem__("hidden", i[0]))
    mass: dict[bool, list[float]] = {True: [], False: []}
    typed: dict[bool, list[float]] = {True: [], False: []}
    try:
        for text in texts:
            ids = tokenizer(text)["input_ids"]
            logits, _ = full_logits(model, ids)
            hyper_mass = logits.softmax(-1)[:, vocab:].sum(-1)
            head_p = torch.sigmoid(model.token_type_head(captured["hidden"][0]).squeeze(-1))
            for t, nxt in enumerate(ids[1:]):
                mass[nxt >= vocab].append(float(hyper_mass[t]))
                typed[nxt >= vocab].append(float(head_p[t]))
    finally:
        hook.remove()
    return {
        "positions": {"hyper": len(mass[True]), "base": len(mass[False])},
        "hyper_mass_at_hyper_targets": float(np.mean(mass[True])),
        "hyper_mass_at_base_targets": float(np.mean(mass[False])),
        "head_p_at_hyper_targets": float(np.mean(typed[True])),
        "head_p_at_base_targets": float(np.mean(typed[False])),
        "head_p_above_half": float(np.mean([p > 0.5 for p in typed[True] + typed[False]])),
    }


@torch.no_grad()
def teacher_forcing(model: Any, tokenizer: Any, texts: list[str]) -> dict[str, Any]:
    """Where the canonical next id is a hypertoken: where the probability goes."""
    vocab = model.initial_vocab_size
    rows: dict[str, list[float]] = {
        k: [] for k in ("p_hyper", "p_first", "p_other_same_first", "p_all_hyper_same_first")
    }
    wins = {"hyper": 0, "first_base": 0, "other_same_first": 0, "elsewhere": 0}
    base_next_p: list[float] = []
    hyper_norms: list[float] = []
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        logits, state = full_logits(model, ids)
        probs = logits.softmax(-1)
        entries = {k: state.base_ids(0, vocab + k) for k in range(state_size(state, vocab))}
        firsts = np.array([e[0] for e in entries.values()] or [-1])
        for t in range(len(ids) - 1):
            target = ids[t + 1]
            if target < vocab:
                base_next_p.append(float(probs[t, target]))
                continue
            first = entries[target - vocab][0]
            alive = torch.isfinite(logits[t, vocab:]).numpy()[: len(firsts)]
            same = np.flatnonzero((firsts == first) & alive) + vocab
            others = [int(s) for s in same if s != target]
            p = probs[t]
            rows["p_hyper"].append(float(p[target]))
            rows["p_first"].append(float(p[first]))
            rows["p_other_same_first"].append(float(p[others].sum()) if others else 0.0)
            rows["p_all_hyper_same_first"].append(float(p[same].sum()) if len(same) else 0.0)
            best = int(p.argmax())
            key = (
                "hyper"
                if best == target
                else "first_base"
                if best == first
                else "other_same_first"
                if best in others
                else "elsewhere"
            )
            wins[key] += 1
        hyper_norms += state_output_norms(state, vocab)
    head = model.base_model.get_output_embeddings().weight.float()
    return {
        "hyper_targets": len(rows["p_hyper"]),
        **{f"mean_{k}": float(np.mean(v)) for k, v in rows.items()},
        "mean_p_base_target": float(np.mean(base_next_p)),
        "argmax_at_hyper_targets": wins,
        "base_output_norm_mean": float(head.norm(dim=-1).mean()),
        "hyper_output_norm_mean": float(np.mean(hyper_norms)) if hyper_norms else None,
    }


def state_size(state: Any, vocab: int) -> int:
    """How many entries the state's single row holds."""
    del vocab
    return int((state._entries[0, :, 0] >= 0).sum())


def state_output_norms(state: Any, vocab: int) -> list[float]:
    values = state.outputs.values[0]
    return [float(v) for v in values[: state_size(state, vocab)].float().norm(dim=-1)]


FAMILY = -1.0  # the ``factor`` that selects the family rule


def family_choice(p: torch.Tensor, state: Any, vocab: int) -> int:
    """The family rule's id for next-id probabilities ``p``."""
    first = torch.tensor(
        [state.base_ids(0, k + vocab)[0] for k in range(state_size(state, vocab))],
        dtype=torch.long,
    )
    hyper = p[vocab : vocab + len(first)]
    family = p[:vocab].clone().index_add_(0, first, hyper)
    token = int(family.argmax())
    members = (first == token).nonzero().flatten()
    if len(members) and float(hyper[members].sum()) > float(p[token]):
        return int(members[hyper[members].argmax()]) + vocab
    return token


@torch.no_grad()
def decode(
    model: Any, prompt_ids: list[int], new: int, *, factor: float = 0.0, sample: bool = False
) -> tuple[list[int], list[int]]:
    """Generated ids and the base ids they stand for: ``model.generate`` (greedy, or sampled at
    temperature 0.7, top-p 0.9), or with ``factor > 0`` greedy with the "prefer the longer id"
    rule, one full forward a step (tiny models only)."""
    vocab = model.initial_vocab_size
    if factor <= 0:
        result: Any = model.generate(
            torch.tensor([prompt_ids]),
            max_new_tokens=new,
            do_sample=sample,
            temperature=0.7,
            top_p=0.9 if sample else None,
            generator=torch.Generator().manual_seed(0),
            return_dict_in_generate=True,
        )
        return result.sequences[0, len(prompt_ids) :].tolist(), result.generated_base_ids[0]
    if factor == math.inf:
        return canonical_context(model, prompt_ids, new)
    ids = list(prompt_ids)
    for _ in range(new):
        logits, state = full_logits(model, ids)
        p = logits[-1].softmax(-1)
        choice = int(p.argmax())
        if factor == FAMILY:
            choice = family_choice(p, state, vocab)
        elif choice < vocab:
            candidates = [
                k + vocab
                for k in range(state_size(state, vocab))
                if state.base_ids(0, k + vocab)[0] == choice
                and float(p[k + vocab]) * factor >= float(p[choice])
            ]
            if candidates:
                choice = max(candidates, key=lambda c: float(p[c]))
        ids.append(choice)
    base = LZWCompressor(model.compression).decode(ids).tolist()
    before = len(LZWCompressor(model.compression).decode(prompt_ids))
    return ids[len(prompt_ids) :], base[before:]


@torch.no_grad()
def canonical_context(model: Any, prompt_ids: list[int], new: int) -> tuple[list[int], list[int]]:
    """Greedy, but each step reads the canonical encoding of the text so far (the prompt and
    every base id written), as training did, instead of the ids it wrote."""
    codec = LZWCompressor(model.compression)
    base = codec.decode(prompt_ids).tolist()
    before = len(base)
    chosen = []
    for _ in range(new):
        logits, state = full_logits(model, codec.encode(base).tolist())
        choice = int(logits[-1].argmax())
        state.update(np.array([[choice]]), np.array([[1]]))
        base += state.last_read(0)
        chosen.append(choice)
    return chosen, base[before:]


@torch.no_grad()
def judge_bits_per_byte(
    judge: Any, tokenizer: Any, prompt_base: list[int], new: list[int]
) -> float:
    """Bits per byte of ``new`` after ``prompt_base`` under the base model (no hypertokens)."""
    ids = torch.tensor([prompt_base + new])
    logp = judge(ids).logits[0, :-1].float().log_softmax(-1)
    start = len(prompt_base)
    nats = -logp[start - 1 :].gather(1, ids[0, start:, None]).sum()
    text = tokenizer.base_tokenizer.decode(new)
    return float(nats) / math.log(2) / max(1, len(text.encode()))


def reencoded(model: Any, prompt_base: list[int], new_base: list[int]) -> float:
    codec = LZWCompressor(model.compression)
    whole = len(codec.encode(prompt_base + new_base))
    alone = len(codec.encode(prompt_base))
    return len(new_base) / max(1, whole - alone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--base", type=Path, default=None, help="judge (default: the adapter's)")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--chars", type=int, nargs="+", default=[300, 1500])
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--factors", type=float, nargs="*", default=[2.0, 4.0, 8.0])
    parser.add_argument(
        "--probes",
        default="consistency,teacher_forcing,type_mass,decoding",
        help="comma-separated probes to run",
    )
    parser.add_argument(
        "--arms",
        default=None,
        help="decoding arms to run (default all: greedy, sampled, prefer_longer_xF, "
        "canonical_context, family)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tokenizer = load_for_eval(args.model)
    model.eval()
    base_dir = (
        args.base
        or json.loads((args.model / "zip2zip_config.json").read_text())["base_model_name_or_path"]
    )
    judge = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    probes = set(args.probes.split(","))
    for chars in args.chars if "consistency" in probes else []:
        for prompt in prompts(args.prompts, chars):
            emit("consistency", chars=chars, **consistency(model, tokenizer, prompt, args.new))
    if "teacher_forcing" in probes:
        prompt_texts = prompts(args.prompts, 1500)
        emit("teacher_forcing", **teacher_forcing(model, tokenizer, prompt_texts))
    if "type_mass" in probes:
        emit("type_mass", **type_mass(model, tokenizer, prompts(args.prompts, 1500)))
    codec = LZWCompressor(model.compression)
    arms: list[tuple[str, float, bool]] = [("greedy", 0.0, False), ("sampled", 0.0, True)]
    arms += [(f"prefer_longer_x{f:g}", f, False) for f in args.factors]
    arms.append(("canonical_context", math.inf, False))
    arms.append(("family", FAMILY, False))
    if args.arms is not None:
        arms = [arm for arm in arms if arm[0] in args.arms.split(",")]
    for chars in args.chars if "decoding" in probes else []:
        for name, factor, sample in arms:
            ids = base = hyper = 0
            bits: list[float] = []
            again: list[float] = []
            for prompt in prompts(args.prompts, chars):
                prompt_ids = tokenizer(prompt)["input_ids"]
                new_ids, new_base = decode(
                    model, prompt_ids, args.new, factor=factor, sample=sample
                )
                prompt_base = codec.decode(prompt_ids).tolist()
                ids += len(new_ids)
                hyper += sum(i >= model.initial_vocab_size for i in new_ids)
                base += len(new_base)
                again.append(reencoded(model, prompt_base, new_base))
                bits.append(judge_bits_per_byte(judge, tokenizer, prompt_base, new_base))
            emit(
                "decoding",
                arm=name,
                prompt_chars=chars,
                new_ids=args.new,
                hyper_written=hyper,
                compression=base / ids,
                reencoded_compression=float(np.mean(again)),
                judge_bits_per_byte=float(np.mean(bits)),
            )


if __name__ == "__main__":
    main()
