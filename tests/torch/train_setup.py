"""A tiny uptraining run shared by the training tests and their 2-process worker: a character
tokenizer, a synthetic corpus whose phrases repeat (so LZW builds long entries), and a small Llama
built from a config, all seeded."""

from __future__ import annotations

import random
from typing import Any

import torch
from char_tokenizer import char_tokenizer
from transformers import LlamaConfig, LlamaForCausalLM
from zip2zip_tokenizers import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.training import (
    WindowDataset,
    Zip2ZipRecipe,
    Zip2ZipTrainer,
    Zip2ZipTrainingArguments,
    text_dataset,
)

PHRASES = ["the cat", "sat on", "a mat", "and the", "dog ran"]
WORDS = {word for phrase in PHRASES for word in phrase.split()}
CODEBOOK = 64


def document(rng: random.Random, phrases: int = 40) -> str:
    return " ".join(rng.choice(PHRASES) for _ in range(phrases)) + "."


def tokenizer(codebook: int = CODEBOOK) -> Zip2ZipTokenizer:
    return Zip2ZipTokenizer.from_pretrained(
        char_tokenizer(), max_codebook_size=codebook, max_subtokens=4
    )


def dataset(tok: Zip2ZipTokenizer, documents: int = 64, seed: int = 0) -> WindowDataset:
    rng = random.Random(seed)
    return text_dataset([document(rng) for _ in range(documents)], tok, window=128)


def model(
    tok: Zip2ZipTokenizer, lora_r: int = 0, seed: int = 0, tied: bool = False, **recipe: Any
) -> Any:
    """The tiny Llama wrapped by ``Zip2ZipRecipe`` (a 1-layer encoder unless ``recipe`` says)."""
    torch.manual_seed(seed)
    vocab = tok.initial_vocab_size
    base = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=0,
            tie_word_embeddings=tied,
        )
    )
    fields = {"encoder_layers": 1, **recipe}
    chosen = Zip2ZipRecipe(max_codebook_size=tok.config.max_codebook_size, lora_r=lora_r, **fields)
    return chosen.build(base, tok)


def arguments(output_dir: str, **overrides: Any) -> Zip2ZipTrainingArguments:
    settings: dict[str, Any] = {
        "per_device_train_batch_size": 8,
        "learning_rate": 3e-3,
        "logging_steps": 1,
        "save_strategy": "no",
        "use_cpu": True,
        "seed": 0,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    settings.update(overrides)
    return Zip2ZipTrainingArguments(output_dir=output_dir, **settings)


def trainer(output_dir: str, tok: Zip2ZipTokenizer, net: Any, data: Any, **overrides: Any) -> Any:
    return Zip2ZipTrainer(
        model=net,
        args=arguments(output_dir, **overrides),
        train_dataset=data,
        processing_class=tok,
    )


def losses(history: list[dict[str, Any]]) -> list[float]:
    return [float(entry["loss"]) for entry in history if "loss" in entry]


HEALTH = ("accuracy_base_targets", "accuracy_hyper_targets", "hyper_prediction_share")


def health(history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Per log, the health signals: accuracies, top-1 hypertoken share, gradient norms."""
    return [
        {k: float(v) for k, v in entry.items() if k in HEALTH or k.startswith("grad_norm")}
        for entry in history
        if "loss" in entry
    ]
