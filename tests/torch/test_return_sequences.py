"""``num_return_sequences``: several sampled rows, or the n best beams, per input row."""

from __future__ import annotations

from typing import Any

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
from zip2zip_tokenizers.torch.generation_options import InvalidGenerationOptionError  # noqa: E402


@pytest.fixture(scope="module")
def model() -> Any:
    m = wrapped("llama", TRANSFORMER)
    randomize(m, seed=6)
    return m


def batch() -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
    prompts = [canonical(repetitive(30, seed=s)) for s in (3, 4)]
    ids, mask = left_padded(prompts)
    return prompts, ids, mask


def test_beam_search_returns_the_n_best_hypotheses_of_each_input(model: Any) -> None:
    _, ids, mask = batch()
    options = {"num_beams": 4, "max_new_tokens": 8, "eos_token_id": []}
    best = model.generate(ids, mask, return_dict_in_generate=True, **options)
    out = model.generate(ids, mask, num_return_sequences=3, return_dict_in_generate=True, **options)
    assert out.sequences.shape[0] == 6 and len(out.sequences_scores) == 6
    assert torch.equal(out.sequences[:, : ids.shape[1]], ids.repeat_interleave(3, 0))
    for b in range(2):
        rows = out.sequences[3 * b : 3 * b + 3]
        assert torch.equal(rows[0], best.sequences[b])
        assert len({tuple(r.tolist()) for r in rows}) == 3
        scores = out.sequences_scores[3 * b : 3 * b + 3].tolist()
        assert scores == sorted(scores, reverse=True)
        assert out.generated_base_ids[3 * b] == best.generated_base_ids[b]


def test_sampling_returns_n_independent_valid_rows_per_input(model: Any) -> None:
    prompts, ids, mask = batch()
    out = model.generate(
        ids,
        mask,
        do_sample=True,
        temperature=3.0,
        num_return_sequences=4,
        max_new_tokens=10,
        eos_token_id=[],
        return_dict_in_generate=True,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.sequences.shape[0] == 8
    width = ids.shape[1]
    codec = LZWCompressor(config())
    for row in range(8):
        prompt = prompts[row // 4]
        generated = out.sequences[row, width:].tolist()
        base = codec.decode([*prompt, *generated]).tolist()
        assert base[len(codec.decode(prompt)) :] == out.generated_base_ids[row]
    for b in range(2):
        rows = {tuple(r.tolist()) for r in out.sequences[4 * b : 4 * b + 4, width:]}
        assert len(rows) > 1


@pytest.mark.parametrize(
    "options",
    [{"num_return_sequences": 2}, {"num_return_sequences": 5, "num_beams": 4}],
)
def test_more_sequences_than_the_search_can_give_is_an_error(
    model: Any, options: dict[str, Any]
) -> None:
    _, ids, mask = batch()
    with pytest.raises(InvalidGenerationOptionError, match="num_return_sequences"):
        model.generate(ids, mask, max_new_tokens=2, **options)
