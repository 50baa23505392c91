"""Compression at write time: base tokens per id the model itself generates, next to the
codec's own compression of the same text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
    from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM

MODES = ("greedy", "sampled")


@torch.no_grad()
def generation_compression(
    model: Zip2ZipForCausalLM,
    tokenizer: Zip2ZipTokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    modes: Sequence[str] = MODES,
    temperature: float = 0.7,
    top_p: float = 0.9,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """For each decoding mode (``greedy``, ``sampled`` with ``temperature`` / ``top_p``), the
    ids generated from every prompt (``max_new_tokens`` each at most, stopping at EOS) and the
    base tokens they stand for; ``compression`` is base tokens per generated id.

    ``codec_ids`` / ``codec_compression``: the ids the codec's canonical encoding spends on the
    same generated text after the same prompt (the encoding of prompt and continuation, less
    the prompt's alone), and base tokens per such id. Reading ``compression`` against
    ``codec_compression`` tells a model that writes few hypertokens (the text repeats, the
    model spells it out) from text that offers few (it repeats little)."""
    codec = tokenizer.compressor
    # Each prompt's ids (its canonical encoding) and base ids, the same for every mode.
    encoded = [tokenizer([prompt], return_tensors="pt")["input_ids"] for prompt in prompts]
    prompt_bases = [tokenizer.to_base_ids(prompt_ids[0]) for prompt_ids in encoded]
    out = []
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        generator = torch.Generator().manual_seed(seed)
        ids = base_tokens = codec_ids = 0
        for prompt_ids, prompt_base in zip(encoded, prompt_bases, strict=True):
            result: Any = model.generate(
                prompt_ids,
                max_new_tokens=max_new_tokens,
                do_sample=mode == "sampled",
                temperature=temperature,
                top_p=top_p if mode == "sampled" else None,
                tokenizer=tokenizer,
                generator=generator,
                return_dict_in_generate=True,
            )
            ids += result.steps
            base_tokens += result.base_tokens[0]
            written = [*prompt_base, *result.generated_base_ids[0]]
            codec_ids += len(codec.encode(written)) - prompt_ids.shape[1]
        out.append(
            {
                "mode": mode,
                "prompts": len(prompts),
                "max_new_tokens": max_new_tokens,
                "ids": ids,
                "base_tokens": base_tokens,
                "compression": base_tokens / ids if ids else float("nan"),
                "codec_ids": codec_ids,
                "codec_compression": base_tokens / codec_ids if codec_ids else float("nan"),
            }
        )
    return out
