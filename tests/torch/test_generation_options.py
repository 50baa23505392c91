"""transformers' generation options over the extended vocabulary, declared once; unsupported
options are errors that name them."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from test_model import TRANSFORMER, canonical, randomize, repetitive, wrapped  # noqa: E402
from transformers import GenerationConfig  # noqa: E402
from zip2zip_tokenizers import Zip2ZipError  # noqa: E402
from zip2zip_tokenizers.torch.generation_options import (  # noqa: E402
    GenerationOptions,
    InvalidGenerationOptionError,
    UnsupportedGenerationOptionError,
)


@pytest.fixture(scope="module")
def model() -> Any:
    m = wrapped("llama", TRANSFORMER)
    randomize(m, seed=2)
    return m


def prompt() -> torch.Tensor:
    return torch.tensor([canonical(repetitive(30, seed=4))])


def run(model: Any, **options: Any) -> Any:
    options = {"eos_token_id": [], "max_new_tokens": 12, **options}
    return model.generate(prompt(), return_dict_in_generate=True, **options)


def test_unsupported_options_name_themselves(model: Any) -> None:
    with pytest.raises(UnsupportedGenerationOptionError, match="num_beam_groups") as caught:
        model.generate(prompt(), num_beam_groups=3)
    assert isinstance(caught.value, Zip2ZipError) and isinstance(caught.value, TypeError)
    with pytest.raises(UnsupportedGenerationOptionError, match="frobnicate, max_length"):
        model.generate(prompt(), frobnicate=1, max_length=9)
    with pytest.raises(UnsupportedGenerationOptionError, match=r"max_length=50 \(in gen"):
        model.generate(prompt(), generation_config=GenerationConfig(max_length=50))
    # At their defaults, transformers' options that change nothing here are accepted.
    out = model.generate(prompt(), num_beam_groups=1, max_new_tokens=2)
    assert out.shape[1] == prompt().shape[1] + 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("repetition_penalty", 0.0), ("top_p", 1.5), ("min_new_tokens", -1), ("temperature", 0)],
)
def test_out_of_range_values_name_the_option(field: str, value: Any) -> None:
    with pytest.raises(InvalidGenerationOptionError, match=field):
        GenerationOptions(**{field: value})


def test_a_generation_config_and_keywords_mean_the_same(model: Any) -> None:
    config = GenerationConfig(max_new_tokens=6, repetition_penalty=1.3, do_sample=False)
    a = model.generate(prompt(), generation_config=config, eos_token_id=[])
    b = model.generate(prompt(), max_new_tokens=6, repetition_penalty=1.3, eos_token_id=[])
    options = GenerationOptions(max_new_tokens=6, repetition_penalty=1.3)
    c = model.generate(prompt(), generation_config=options, eos_token_id=[])
    assert torch.equal(a, b) and torch.equal(a, c) and a.shape[1] == prompt().shape[1] + 6


def test_repetition_penalty_scales_the_logits_of_every_id_read_so_far(model: Any) -> None:
    out = run(model, repetition_penalty=1.7, output_scores=True, output_logits=True)
    read = set(prompt()[0].tolist())
    for step, (raw, scores) in enumerate(zip(out.logits, out.scores, strict=True)):
        raw, scores = raw[0].float(), scores[0]
        seen = torch.zeros_like(raw, dtype=torch.bool)
        seen[sorted(read)] = True
        expected = torch.where(raw < 0, raw * 1.7, raw / 1.7)
        assert torch.equal(scores[seen], expected[seen])
        assert torch.equal(scores[~seen], raw[~seen])
        read.add(int(out.sequences[0, prompt().shape[1] + step]))


def test_min_new_tokens_holds_back_eos(model: Any) -> None:
    # The base token the model likes best first plays EOS.
    raw = run(model, max_new_tokens=1, output_logits=True).logits[0][0]
    first = int(raw[: model.initial_vocab_size].argmax())
    out = model.generate(
        prompt(),
        eos_token_id=first,
        min_new_tokens=4,
        max_new_tokens=8,
        output_scores=True,
        return_dict_in_generate=True,
    )
    generated = out.sequences[0, prompt().shape[1] :].tolist()
    assert first not in generated[:4]
    assert all(scores[0, first] == float("-inf") for scores in out.scores[:4])
    assert out.scores[4][0, first] > float("-inf")


def test_no_repeat_ngram_size_never_repeats_an_id_pair(model: Any) -> None:
    out = run(model, no_repeat_ngram_size=2, max_new_tokens=20)
    stream = out.sequences[0].tolist()
    start = prompt().shape[1]
    grams = [tuple(stream[i : i + 2]) for i in range(len(stream) - 1)]
    for end in range(start, len(stream)):
        assert grams[end - 1] not in grams[: end - 1]
    plain = run(model, max_new_tokens=20).sequences[0].tolist()
    assert plain != stream
