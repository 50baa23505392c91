"""Choosing the next id: greedy, temperature, top-k and top-p never pick an -inf id."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from zip2zip_tokenizers.torch.sampling import select_next  # noqa: E402


def draws(logits: torch.Tensor, n: int = 400, **kwargs: object) -> set[int]:
    generator = torch.Generator().manual_seed(0)
    rows = logits.expand(n, -1)
    return set(select_next(rows, do_sample=True, generator=generator, **kwargs).tolist())  # type: ignore[arg-type]


LOGITS = torch.tensor([[2.0, 1.0, 0.5, float("-inf"), 0.0, float("-inf")]])


def test_greedy_is_the_argmax() -> None:
    assert select_next(LOGITS, do_sample=False).tolist() == [0]


def test_sampling_never_picks_uncreated_slots() -> None:
    assert draws(LOGITS, temperature=5.0) == {0, 1, 2, 4}


def test_top_k_keeps_the_k_best() -> None:
    assert draws(LOGITS, top_k=2, temperature=5.0) == {0, 1}


def test_top_p_keeps_the_smallest_set_holding_p() -> None:
    probabilities = LOGITS.softmax(-1)[0]
    assert probabilities[0] < 0.6 < probabilities[0] + probabilities[1]
    assert draws(LOGITS, top_p=0.6) == {0, 1}
    assert draws(LOGITS, top_p=0.01) == {0}


def test_bad_parameters_are_errors() -> None:
    with pytest.raises(ValueError, match="temperature"):
        select_next(LOGITS, do_sample=True, temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        select_next(LOGITS, do_sample=True, top_p=1.5)
