"""What a generation step computes: input vectors only of the entries it reads, the KwKwK
slot's vector only where it is scored, keys and values written into a reserved KV cache, and
the same logits as a full forward (and as transformers' own cache) regardless."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from strategies import random_segmentation  # noqa: E402
from test_model import (  # noqa: E402
    TRANSFORMER,
    assert_same_logits,
    canonical,
    left_padded,
    randomize,
    repetitive,
    stepwise_logits,
    wrapped,
)
from tiny_models import FAMILIES  # noqa: E402
from transformers.cache_utils import DynamicLayer  # noqa: E402
from zip2zip_tokenizers import BatchCodebookState  # noqa: E402
from zip2zip_tokenizers.torch import beam_search, generation  # noqa: E402
from zip2zip_tokenizers.torch.kv_cache import ReservedLayer, reserved_cache  # noqa: E402


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
    assert_same_logits(stepwise_logits(model, ids, 3), full)


@pytest.mark.parametrize("family", FAMILIES)
def test_generation_builds_a_reserved_cache_for_every_family(family: str) -> None:
    model = wrapped(family, TRANSFORMER)
    cache = reserved_cache(model.base_model, 30, 10)
    assert cache is not None
    assert all(isinstance(layer, ReservedLayer) for layer in cache.layers)


@pytest.mark.parametrize("options", [{}, {"num_beams": 3}, {"do_sample": True, "top_k": 5}])
@pytest.mark.parametrize("capacity", [None, 3])
def test_the_reserved_cache_generates_what_transformers_cache_does(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], capacity: int | None
) -> None:
    """Same ids and bit-equal step logits with transformers' concatenating cache; a capacity
    far too small (3 positions) grows by doubling and changes nothing either."""
    model = wrapped("llama", TRANSFORMER)
    randomize(model, seed=3)
    prompts = [canonical(repetitive(30, seed=1)), canonical(repetitive(24, seed=2))]
    ids, mask = left_padded(prompts)

    def run() -> Any:
        return model.generate(
            ids,
            mask,
            max_new_tokens=12,
            eos_token_id=[],
            return_dict_in_generate=True,
            output_logits="num_beams" not in options,
            generator=torch.Generator().manual_seed(0),
            **options,
        )

    if capacity is not None:
        too_small = lambda base, *_: reserved_cache(base, 3, 0)  # noqa: E731
        monkeypatch.setattr(generation, "reserved_cache", too_small)
        monkeypatch.setattr(beam_search, "reserved_cache", too_small)
    reserved = run()
    monkeypatch.setattr(generation, "reserved_cache", lambda *_: None)
    monkeypatch.setattr(beam_search, "reserved_cache", lambda *_: None)
    plain = run()
    assert torch.equal(reserved.sequences, plain.sequences)
    if reserved.logits is not None:
        assert all(torch.equal(a, b) for a, b in zip(reserved.logits, plain.logits, strict=True))


def test_a_reserved_layer_crops_and_reorders_like_a_dynamic_layer() -> None:
    generator = torch.Generator().manual_seed(0)
    reserved, dynamic = ReservedLayer(4), DynamicLayer()
    for length in [3, 1, 5]:
        keys = torch.randn((2, 3, length, 8), generator=generator)
        values = torch.randn((2, 3, length, 8), generator=generator)
        got, expected = reserved.update(keys, values), dynamic.update(keys, values)
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    assert reserved.get_seq_length() == dynamic.get_seq_length() == 9
    for layer in (reserved, dynamic):
        layer.crop(-2)
        layer.reorder_cache(torch.tensor([1, 1]))
    assert torch.equal(reserved.keys, dynamic.keys) and torch.equal(reserved.values, dynamic.values)
    assert reserved.get_seq_length() == 7
