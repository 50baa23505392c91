"""Beam search whose beams carry their own codebooks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_model import (  # noqa: E402
    TRANSFORMER,
    canonical,
    config,
    left_padded,
    randomize,
    repetitive,
    wrapped,
)
from zip2zip_tokenizers import LZWCompressor  # noqa: E402
from zip2zip_tokenizers.torch.generation_options import (  # noqa: E402
    UnsupportedGenerationOptionError,
)


@pytest.fixture(scope="module")
def model() -> Any:
    m = wrapped("llama", TRANSFORMER)
    randomize(m, seed=6)
    return m


def test_reordered_rows_continue_as_the_rows_they_copy(model: Any) -> None:
    a, b = canonical(repetitive(24, seed=1)), canonical(repetitive(24, seed=2))
    ids, mask = left_padded([a, b])
    state = model.new_state(2)
    with torch.no_grad():
        out = model(ids, mask, state=state, use_cache=True)
        state.reorder(np.array([1, 1]))
        out.cache.reorder_cache(torch.tensor([1, 1]))
        mask = mask[[1, 1]]
        step = torch.tensor([[int(out.logits[1, -1].argmax())]] * 2)
        mask = torch.cat([mask, torch.ones((2, 1), dtype=mask.dtype)], 1)
        both = model(step, mask, state=state, past_key_values=out.cache, use_cache=True).logits
        alone = model(torch.tensor([[*b, int(step[0, 0])]])).logits[:, -1]
    assert torch.allclose(both[0, -1], alone[0], atol=1e-5, equal_nan=True)
    assert torch.allclose(both[0, -1], both[1, -1], atol=1e-6, equal_nan=True)
    assert torch.equal(torch.isfinite(both[0, -1]), torch.isfinite(alone[0]))


@pytest.mark.parametrize("length_penalty", [1.0, 0.0])
def test_a_beam_s_score_is_its_log_probability_under_a_full_forward(
    model: Any, length_penalty: float
) -> None:
    prompts = [canonical(repetitive(30, seed=s)) for s in (3, 4)]
    ids, mask = left_padded(prompts)
    out = model.generate(
        ids,
        mask,
        num_beams=4,
        length_penalty=length_penalty,
        max_new_tokens=10,
        eos_token_id=[],
        return_dict_in_generate=True,
    )
    codec = LZWCompressor(config())
    width = ids.shape[1]
    for row, prompt in enumerate(prompts):
        generated = out.sequences[row, width:].tolist()
        stream = [*prompt, *generated]
        # Valid in its own codebook: decodes, and the base ids the result reports follow.
        base = codec.decode(stream).tolist()
        assert base[len(codec.decode(prompt)) :] == out.generated_base_ids[row]
        with torch.no_grad():
            logits = model(torch.tensor([stream])).logits[0].float()
        logprobs = torch.log_softmax(logits, -1)
        total = sum(float(logprobs[len(prompt) - 1 + i, t]) for i, t in enumerate(generated))
        expected = total / len(generated) ** length_penalty
        assert out.sequences_scores[row] == pytest.approx(expected, abs=1e-3)
    greedy = model.generate(ids, mask, max_new_tokens=10, eos_token_id=[])
    assert not torch.equal(greedy, out.sequences)


def test_options_beam_search_does_not_implement_are_named(model: Any) -> None:
    ids = torch.tensor([canonical(repetitive(20))])
    with pytest.raises(UnsupportedGenerationOptionError, match="do_sample"):
        model.generate(ids, num_beams=2, do_sample=True)
    with pytest.raises(UnsupportedGenerationOptionError, match="repetition_penalty"):
        model.generate(ids, num_beams=2, repetition_penalty=1.2)
