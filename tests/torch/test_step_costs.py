"""What a generation step computes: input vectors only of the entries it reads, the KwKwK
slot's vector only where it is scored, and the same logits as a full forward regardless."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from strategies import random_segmentation  # noqa: E402
from test_model import TRANSFORMER, canonical, randomize, repetitive, wrapped  # noqa: E402
from zip2zip_tokenizers import BatchCodebookState  # noqa: E402


def rows_encoded(encoder: Any) -> tuple[list[int], Any]:
    """A list that receives the number of entries of each call of ``encoder``, and the hook."""
    calls: list[int] = []
    handle = encoder.register_forward_hook(lambda _m, args, _o: calls.append(len(args[0])))
    return calls, handle


def test_a_step_embeds_input_vectors_only_of_the_entries_it_reads() -> None:
    model = wrapped("llama", TRANSFORMER)
    randomize(model)
    vocab = model.initial_vocab_size
    stream = canonical(repetitive(80))
    inputs, handle = rows_encoded(model.input_encoder)
    with torch.no_grad():
        state = model.new_state(1)
        model(torch.tensor([stream[:40]]), state=state, use_cache=True)
        # A prompt embeds every entry it creates, in one call (as the authors' runtime does).
        assert inputs == [len(state.codebooks.codebook(0))]
        inputs.clear()
        for token in stream[40:]:
            before = set(state._embedded[0].nonzero()[0].tolist())
            state.update([[token]], None)
            read_new = token >= vocab and token - vocab not in before
            assert inputs == ([1] if read_new else []), token
            inputs.clear()
    handle.remove()


@pytest.mark.parametrize("slot", ["scored", "masked"])
@pytest.mark.parametrize("keep", [0, 1, 7])
def test_the_kwkwk_vector_is_computed_only_for_the_logits_kept(slot: str, keep: int) -> None:
    model = wrapped("llama", TRANSFORMER, kwkwk_slot=slot)
    randomize(model)
    stream = canonical(repetitive(60))
    traced = BatchCodebookState(model.compression, 1).update_traced(np.array([stream]))
    valid_next = traced.next_entries[0, :, 0] >= 0
    kept = valid_next[-keep:] if keep else valid_next
    outputs, handle = rows_encoded(model.output_encoder)
    with torch.no_grad():
        model(torch.tensor([stream]), logits_to_keep=keep)
    handle.remove()
    assert outputs == [len(traced.hyper_ids) + (int(kept.sum()) if slot == "scored" else 0)]


@pytest.mark.parametrize("slot", ["scored", "masked"])
def test_stepwise_logits_equal_the_full_forward_with_lazy_inputs(slot: str) -> None:
    model = wrapped("qwen2", TRANSFORMER, kwkwk_slot=slot)
    randomize(model, seed=2)
    stream = random_segmentation(model.compression, repetitive(70, seed=5), random.Random(7))
    ids = torch.tensor([stream])
    with torch.no_grad():
        full = model(ids).logits[0]
        state = model.new_state(1)
        out = model(ids[:, :3], state=state, use_cache=True)
        steps = [out.logits[0]]
        for t in range(3, len(stream)):
            out = model(
                ids[:, t : t + 1], state=state, past_key_values=out.past_key_values, use_cache=True
            )
            steps.append(out.logits[0])
    incremental = torch.cat(steps)
    finite = torch.isfinite(full)
    assert torch.equal(finite, torch.isfinite(incremental))
    torch.testing.assert_close(incremental[finite], full[finite], rtol=1e-4, atol=1e-5)
