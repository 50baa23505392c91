"""Tiny causal LMs of the families the model layer supports, built from configs (no downloads)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

FAMILIES = ["llama", "qwen2", "mistral", "phi3", "gpt2", "gpt_neox"]
HIDDEN = 32


def tiny_model(
    family: str,
    vocab: int,
    *,
    tied: bool = False,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    hidden: int = HIDDEN,
) -> Any:
    torch.manual_seed(seed)
    common: dict[str, Any] = {
        "vocab_size": vocab,
        "tie_word_embeddings": tied,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
    }
    decoder = {
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        **common,
    }
    if family == "llama":
        model = LlamaForCausalLM(LlamaConfig(**decoder))
    elif family == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**decoder))
    elif family == "mistral":
        model = MistralForCausalLM(MistralConfig(**decoder, sliding_window=None))
    elif family == "phi3":
        model = Phi3ForCausalLM(Phi3Config(**decoder))
    elif family == "gpt2":
        model = GPT2LMHeadModel(
            GPT2Config(n_embd=hidden, n_layer=2, n_head=4, n_positions=256, **common)
        )
    elif family == "gpt_neox":
        model = GPTNeoXForCausalLM(
            GPTNeoXConfig(
                hidden_size=hidden,
                intermediate_size=2 * hidden,
                num_hidden_layers=2,
                num_attention_heads=4,
                **common,
            )
        )
    else:
        raise ValueError(family)
    return model.to(dtype).eval()
