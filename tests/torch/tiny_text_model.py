"""A tiny byte-level BPE tokenizer trained here on standard-library text, and a tiny Llama over
its vocabulary, saved as a Hugging Face directory (no downloads): real offsets, real text."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<pad>", "<s>", "</s>"]


def training_text() -> str:
    import json as json_module
    import textwrap

    return "\n".join(inspect.getsource(m) for m in (json_module, textwrap))


def tiny_tokenizer(vocab: int = 320) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([training_text()], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )


def tiny_llama(vocab: int, seed: int = 0, hidden: int = 32) -> Any:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()


def save_tiny_model(directory: Path, seed: int = 0) -> Path:
    """A base model directory (model + tokenizer) like any on the hub."""
    tokenizer = tiny_tokenizer()
    model = tiny_llama(len(tokenizer), seed)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    (directory / "generation_config.json").write_text(
        json.dumps({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0})
    )
    return directory
