"""``BatchCodebookState.update_traced``: what a model may choose from after every column."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import params_and_ids, random_segmentation
from zip2zip_tokenizers import BatchCodebookState, InvalidArgumentError, InvalidTokenError


@settings(max_examples=60, deadline=None)
@given(params_and_ids(max_size=60), st.integers(0, 2**32 - 1), st.integers(0, 5))
def test_trace_matches_stepping_and_probing_each_column(case, seed, left_pad):  # type: ignore[no-untyped-def]
    p, ids = case
    config = p.config()
    stream = random_segmentation(config, ids, random.Random(seed))
    width = len(stream) + left_pad
    row = [0] * left_pad + stream
    batch = np.array([row, [0] * width], dtype=np.int64)
    mask = np.array([[0] * left_pad + [1] * len(stream), [0] * width])

    traced = BatchCodebookState(config, 2)
    rows, hyper_ids, subtokens, sizes, next_entries, next_ids, columns = traced.update_traced(
        batch, mask
    )
    assert sizes.shape == (2, width)
    assert next_entries.shape == (2, width, config.max_subtokens)
    assert (sizes[1] == 0).all() and (next_entries[1] == -1).all()
    assert (rows == 0).all()

    stepped = BatchCodebookState(config, 2)
    created = []
    created_columns = []
    for column in range(width):
        got = stepped.update(batch[:, column : column + 1], mask[:, column : column + 1])
        created.extend(got[1].tolist())
        created_columns.extend([column] * len(got[1]))
        assert sizes[0, column] == len(stepped.codebook(0))
        entry = [t for t in next_entries[0, column].tolist() if t >= 0]
        assert next_ids[0, column] == (-1 if entry == [] else sizes[0, column] + p.vocab)
        if not mask[0, column]:
            assert entry == []
            continue
        probe = copy.deepcopy(stepped)
        next_id = config.initial_vocab_size + len(stepped.codebook(0))
        try:
            probe.update([[next_id], []])
        except InvalidTokenError:
            assert entry == []
        else:
            assert entry == probe.codebook(0).subtokens(next_id)
    assert hyper_ids.tolist() == created
    assert columns.tolist() == created_columns
    assert (next_ids[1] == -1).all()
    assert traced.codebook(0) == stepped.codebook(0)
    assert subtokens.shape == (len(created), config.max_subtokens)


def test_trace_needs_a_rectangular_batch_and_changes_nothing_on_error() -> None:
    from strategies import Params

    p = Params(10, 8, 3)
    state = BatchCodebookState(p.config(), 2)
    with pytest.raises(InvalidArgumentError, match="equal length: row 1 has 1 ids"):
        state.update_traced([[1, 2], [1]])
    state.update_traced([[1, 1], [2, 2]])
    before = [state.codebook(r) for r in range(2)]
    with pytest.raises(InvalidTokenError, match="row 1"):
        state.update_traced([[1, 1], [2, p.total]])
    assert [state.codebook(r) for r in range(2)] == before
