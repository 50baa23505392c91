"""Runs the authors' runtime (PyPI ``zip2zip==0.2.0``) for the differential tests.

Executed by the interpreter of a separate virtual environment (see ``authors_runtime.py``):
``python authors_oracle.py JOB.json OUT.pt``. ``JOB.json`` is a list of tasks, each a dict with
an ``op``; the results are saved with ``torch.save`` as ``{task name: {...}}``. Nothing here
imports ``zip2zip_tokenizers``.

Ops:
- ``create``: a fresh model from ``config`` (a ``zip2zip_config.json`` dict) over the base
  model ``config["base_model_name_or_path"]``, encoder weights drawn with ``seed``, saved to
  ``out`` with their ``save_pretrained``.
- ``resave``: load ``checkpoint`` with their ``from_pretrained``, save it to ``out``.
- ``forward``: load ``checkpoint``; tokenize each of ``texts`` with their tokenizer; one full
  forward per text; returns ``ids`` and ``logits`` (lists of tensors) and the installed slots.
- ``generate``: greedy ``generate`` of ``max_new_tokens`` per text with per-step logits.
- ``encode``: load ``checkpoint``; run its input and output encoders directly on ``entries``
  (rows of ``M`` base ids padded with -1, which becomes their padding id) over the base
  embedding tables (their
  ``attention`` encoder takes one 2-D codebook, the others a batch of them).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import torch

_LOADED: dict[str, tuple[Any, Any]] = {}


def _load(checkpoint: str) -> tuple[Any, Any]:
    from zip2zip import Zip2ZipModel, Zip2ZipTokenizer

    if checkpoint not in _LOADED:
        model = Zip2ZipModel.from_pretrained(checkpoint, dtype=torch.float32).eval()
        _LOADED[checkpoint] = model, Zip2ZipTokenizer.from_pretrained(checkpoint)
    return _LOADED[checkpoint]


def create(task: dict[str, Any]) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM
    from zip2zip import Zip2ZipConfig, Zip2ZipModel

    directory = task["out"]
    config = dict(task["config"])
    # Their config class reads a file; write the dict where it can find it.
    import os

    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "zip2zip_config.json"), "w") as file:
        json.dump(config, file)
    parsed = Zip2ZipConfig.from_pretrained(directory)
    base = AutoModelForCausalLM.from_pretrained(config["base_model_name_or_path"])
    model = Zip2ZipModel(parsed, base_model=base)
    generator = torch.Generator().manual_seed(task["seed"])
    encoders = [model.input_encoder]
    if model.output_encoder is not None:
        encoders.append(model.output_encoder)
    with torch.no_grad():
        for encoder in encoders:
            for parameter in encoder.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    model.save_pretrained(directory)
    return {}


def resave(task: dict[str, Any]) -> dict[str, Any]:
    model, _ = _load(task["checkpoint"])
    model.save_pretrained(task["out"])
    return {}


@torch.no_grad()
def forward(task: dict[str, Any]) -> dict[str, Any]:
    model, tokenizer = _load(task["checkpoint"])
    ids, logits, installed = [], [], []
    for text in task["texts"]:
        encoded = tokenizer([text], return_tensors="pt")
        model.codebook_manager.reset()
        out = model(input_ids=encoded["input_ids"])
        ids.append(encoded["input_ids"][0])
        logits.append(out.logits[0].float())
        installed.append(model.codebook_manager.installed_slots[0].clone())
        model.codebook_manager.reset()
    return {"ids": ids, "logits": logits, "installed": installed}


@torch.no_grad()
def generate(task: dict[str, Any]) -> dict[str, Any]:
    model, tokenizer = _load(task["checkpoint"])
    sequences, logits = [], []
    for text in task["texts"]:
        encoded = tokenizer([text], return_tensors="pt")
        out = model.generate(
            input_ids=encoded["input_ids"],
            attention_mask=encoded["attention_mask"],
            max_new_tokens=task["max_new_tokens"],
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id,
        )
        sequences.append(out.sequences[0])
        logits.append(torch.stack([step[0].float() for step in out.logits]))
    return {"sequences": sequences, "logits": logits}


@torch.no_grad()
def encode(task: dict[str, Any]) -> dict[str, Any]:
    model, _ = _load(task["checkpoint"])
    pad = model.codebook_manager.pad_token_id
    entries = torch.tensor(task["entries"], dtype=torch.long)
    entries = torch.where(entries >= 0, entries, torch.full_like(entries, pad))
    tables = {
        "input": (model.input_encoder, model.base_model.get_input_embeddings().weight),
        "output": (
            model.output_encoder or model.input_encoder,
            model.base_model.get_output_embeddings().weight,
        ),
    }
    out: dict[str, Any] = {"pad_token_id": pad}
    for side, (encoder, table) in tables.items():
        two_dimensional = type(encoder).__name__ == "AttentionEncoder"
        batch = entries if two_dimensional else entries[None]
        vectors = encoder(batch, table, pad)
        out[side] = (vectors if two_dimensional else vectors[0]).float()
    return out


OPS = {
    "create": create,
    "resave": resave,
    "forward": forward,
    "generate": generate,
    "encode": encode,
}


def main() -> None:
    job_path, out_path = sys.argv[1], sys.argv[2]
    with open(job_path) as file:
        tasks = json.load(file)
    results = {task["name"]: OPS[task["op"]](task) for task in tasks}
    torch.save(results, out_path)


if __name__ == "__main__":
    main()
