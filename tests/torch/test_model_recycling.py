"""A model over an evicting codec once its codebooks fill (``eviction="lru"``): each id reads the
entry its slot holds when it is read, each column scores exactly the entries alive after it, and
generation, beam search, the streamer, the scorer and training follow recycled slots. The
expected values come from the plain-Python codec oracle (``eviction_oracle.py``), not from the
codec the model uses."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from char_tokenizer import char_tokenizer  # noqa: E402
from eviction_oracle import LZW, segmentation  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_evaluation import brute_force  # noqa: E402
from test_model import (  # noqa: E402
    MEAN,
    TRANSFORMER,
    M,
    V,
    assert_same_logits,
    left_padded,
    randomize,
    repetitive,
    stepwise_logits,
    wrapped,
)
from tiny_models import tiny_model  # noqa: E402
from zip2zip_tokenizers import CompressionConfig, LZWCompressor, Zip2ZipTokenizer  # noqa: E402
from zip2zip_tokenizers.slot_reads import id_spans  # noqa: E402
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM  # noqa: E402
from zip2zip_tokenizers.torch.evaluation import canonical, score_segmentation  # noqa: E402
from zip2zip_tokenizers.torch.model import causal_lm_loss  # noqa: E402
from zip2zip_tokenizers.torch.streamer import TextStreamer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
DISABLED = (0, 1, 2)


def evicting(size: int, vocab: int = V) -> CompressionConfig:
    return CompressionConfig(vocab, size, M, list(DISABLED), 0, eviction="lru")


def oracle(size: int) -> LZW:
    return LZW(V, size, M, DISABLED, "lru")


def recycling_stream(size: int, seed: int, length: int = 80) -> list[int]:
    """A random valid (non-canonical) id stream whose codebook fills and recycles slots."""
    stream = segmentation(oracle(size), repetitive(length, seed=seed), random.Random(seed))
    reference = oracle(size)
    for id_ in stream:
        reference.feed_id(id_)
    assert len(reference.created) > size + 3, "the codebook must recycle slots"
    return stream


def capture(model: Any) -> tuple[list[torch.Tensor], list[torch.Tensor], Any]:
    """Hooks that keep the base model's input vectors and last hidden states."""
    inputs: list[torch.Tensor] = []
    hidden: list[torch.Tensor] = []
    head = model.base_model.get_output_embeddings()
    handles = [
        model.base_model.register_forward_pre_hook(
            lambda _m, _a, kw: inputs.append(kw["inputs_embeds"]), with_kwargs=True
        ),
        head.register_forward_hook(lambda _m, a, _o: hidden.append(a[0])),
    ]
    return inputs, hidden, handles


@pytest.mark.parametrize("family", ["llama", "gpt2"])
@pytest.mark.parametrize("position_mode", ["sequential", "base_token_end"])
@pytest.mark.parametrize(("size", "kwkwk_slot"), [(4, "scored"), (7, "scored"), (5, "masked")])
def test_a_full_forward_agrees_with_feeding_one_column_at_a_time(
    family: str, position_mode: str, size: int, kwkwk_slot: str
) -> None:
    model = wrapped(
        family,
        TRANSFORMER,
        cfg=evicting(size),
        position_mode=position_mode,
        kwkwk_slot=kwkwk_slot,
    )
    randomize(model)
    stream = recycling_stream(size, seed=size)
    ids = torch.tensor([stream])
    with torch.no_grad():
        full = model(ids, labels=ids)
    incremental = stepwise_logits(model, ids, 3)
    assert_same_logits(incremental, full.logits[0])
    labels = ids.clone()
    if kwkwk_slot == "masked":  # a masked KwKwK target leaves the loss
        labels[0, 1:][torch.isinf(incremental[:-1].gather(1, ids[0, 1:, None]))[:, 0]] = -100
    stepped_loss = causal_lm_loss(incremental[None], labels)
    torch.testing.assert_close(stepped_loss, full.loss, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("size", "kwkwk_slot"), [(4, "scored"), (6, "scored"), (5, "masked")])
def test_each_column_reads_and_scores_the_entries_its_slots_hold_then(
    size: int, kwkwk_slot: str
) -> None:
    """With mean encoders an entry's input and output vectors are the means of its base ids'
    rows, so the oracle alone says what every column must read and score. With the authors'
    rule the KwKwK id is -inf, even where its slot still holds an older entry."""
    model = wrapped("llama", MEAN, cfg=evicting(size), kwkwk_slot=kwkwk_slot)
    stream = recycling_stream(size, seed=10 + size)
    ids = torch.tensor([stream])
    inputs, hidden, handles = capture(model)
    with torch.no_grad():
        out = model(ids, labels=ids)
        trained = model(ids, labels=ids, return_logits=False)
    for handle in handles:
        handle.remove()
    embed_in = model.base_model.get_input_embeddings().weight
    embed_out = model.base_model.get_output_embeddings().weight
    reference = oracle(size)
    expected = torch.full((len(stream), V + size), float("-inf"))
    first_held: dict[int, tuple[int, ...]] = {}
    recycled_reads = 0
    for t, id_ in enumerate(stream):
        read = reference.resolve(id_)
        assert read is not None
        if id_ >= V:
            torch.testing.assert_close(inputs[0][0, t], embed_in[list(read)].mean(0))
            # Also the target at t - 1: a slot that no longer holds its first entry.
            recycled_reads += first_held[id_] != read
        reference.feed_id(id_)
        expected[t, :V] = out.logits[0, t, :V]
        kwkwk = reference.kwkwk()
        masked = None if kwkwk is None or kwkwk_slot == "scored" else kwkwk[0]
        for slot in range(size):
            entry = reference.resolve(V + slot)
            if entry is not None and V + slot != masked:
                expected[t, V + slot] = hidden[0][0, t] @ embed_out[list(entry)].mean(0)
                first_held.setdefault(V + slot, entry)
    assert recycled_reads > 0
    finite = torch.isfinite(expected)
    assert torch.equal(finite, torch.isfinite(out.logits[0]))
    torch.testing.assert_close(out.logits[0][finite], expected[finite], rtol=1e-5, atol=1e-5)
    # A target on a recycled slot gets the new entry's probability: the loss of these logits
    # (a masked KwKwK target leaves the loss, as in the authors' training).
    labels = ids.clone()
    if kwkwk_slot == "masked":
        unscorable = torch.isinf(expected[:-1].gather(1, ids[0, 1:, None]))[:, 0]
        labels[0, 1:][unscorable] = -100
    loss = causal_lm_loss(expected[None], labels)
    torch.testing.assert_close(out.loss, loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(trained.loss, loss, rtol=1e-5, atol=1e-5)


def test_the_training_loss_matches_the_logits_and_trains_the_encoders() -> None:
    model = wrapped("llama", TRANSFORMER, cfg=evicting(5))
    randomize(model)
    model.train()
    streams = [recycling_stream(5, seed=s, length=60) for s in (20, 21)]
    ids, mask = left_padded(streams)
    labels = ids.masked_fill(mask == 0, -100)
    fast = model(ids, mask, labels=labels, return_logits=False)
    fast.loss.backward()
    grads = [p.grad for p in model.output_encoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    with torch.no_grad():
        plain = model(ids, mask, labels=labels)
    torch.testing.assert_close(fast.loss, plain.loss, rtol=1e-5, atol=1e-5)


def decoded_exactly(
    tokenizer: Any, prompt: list[int], generated: list[int], base: list[int]
) -> None:
    """The generated ids decode (tokenizer and codec) to exactly the base ids the model chose."""
    codec = LZWCompressor(tokenizer.config)
    stream = [*prompt, *generated]
    everything = codec.decode(stream).tolist()
    assert everything[len(codec.decode(prompt)) :] == base
    assert tokenizer.decode(stream) == tokenizer.base_tokenizer.decode(everything)


@pytest.fixture(scope="module")
def text_model() -> tuple[Zip2ZipForCausalLM, Zip2ZipTokenizer]:
    base_tokenizer = char_tokenizer()
    tokenizer = Zip2ZipTokenizer(base_tokenizer, evicting(6, vocab=len(base_tokenizer)))
    model = Zip2ZipForCausalLM(tiny_model("llama", len(base_tokenizer)), tokenizer.config)
    return model.eval(), tokenizer


PROMPTS = ["the cat sat on the mat, the cat sat on the hat.", "a cat, a hat, a mat."]


@pytest.mark.parametrize("do_sample", [False, True])
def test_generation_recycles_slots_and_decodes_exactly(
    text_model: tuple[Zip2ZipForCausalLM, Zip2ZipTokenizer], do_sample: bool
) -> None:
    model, tokenizer = text_model
    batch = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    out = model.generate(
        batch["input_ids"],
        batch["attention_mask"],
        max_new_tokens=40,
        do_sample=do_sample,
        temperature=3.0,
        eos_token_id=[],
        return_dict_in_generate=True,
        generator=torch.Generator().manual_seed(3),
    )
    width = batch["input_ids"].shape[1]
    wrote_hyper = False
    for row in range(len(PROMPTS)):
        prompt = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        generated = out.sequences[row, width:].tolist()
        wrote_hyper |= any(t >= tokenizer.config.initial_vocab_size for t in generated)
        decoded_exactly(tokenizer, prompt, generated, out.generated_base_ids[row])
    assert wrote_hyper


def test_the_streamer_emits_exactly_the_text_generated_over_recycled_slots(
    text_model: tuple[Zip2ZipForCausalLM, Zip2ZipTokenizer],
) -> None:
    model, tokenizer = text_model
    prompt = tokenizer(PROMPTS[:1], return_tensors="pt")["input_ids"]
    pieces: list[str] = []
    streamer = TextStreamer(tokenizer, on_text=pieces.append)
    out = model.generate(
        prompt,
        max_new_tokens=30,
        do_sample=True,
        temperature=3.0,
        eos_token_id=[],
        streamer=streamer,
        return_dict_in_generate=True,
        generator=torch.Generator().manual_seed(5),
    )
    generated = out.sequences[0, prompt.shape[1] :].tolist()
    decoded_exactly(tokenizer, prompt[0].tolist(), generated, out.generated_base_ids[0])
    text = tokenizer.base_tokenizer.decode(out.generated_base_ids[0], skip_special_tokens=True)
    assert "".join(pieces) == text


def test_beam_search_keeps_each_beam_s_recycled_codebook() -> None:
    """Every returned beam is a valid stream in its own codebook, and its score is its
    log-probability under one full forward of that stream."""
    model = wrapped("llama", TRANSFORMER, cfg=evicting(5))
    randomize(model, seed=6)
    codec = LZWCompressor(evicting(5))
    prompts = [list(codec.encode(repetitive(30, seed=s)).tolist()) for s in (3, 4)]
    ids, mask = left_padded(prompts)
    out = model.generate(
        ids,
        mask,
        num_beams=3,
        num_return_sequences=3,
        length_penalty=0.0,
        max_new_tokens=12,
        eos_token_id=[],
        return_dict_in_generate=True,
    )
    wrote_hyper = False
    width = ids.shape[1]
    for row in range(len(prompts) * 3):
        prompt = prompts[row // 3]
        generated = out.sequences[row, width:].tolist()
        wrote_hyper |= any(t >= V for t in generated)
        stream = [*prompt, *generated]
        base = codec.decode(stream).tolist()
        assert base[len(codec.decode(prompt)) :] == out.generated_base_ids[row]
        with torch.no_grad():
            logprobs = model(torch.tensor([stream])).logits[0].float().log_softmax(-1)
        total = sum(float(logprobs[len(prompt) - 1 + i, t]) for i, t in enumerate(generated))
        assert out.sequences_scores[row] == pytest.approx(total, abs=1e-3)
    assert wrote_hyper


@pytest.mark.parametrize(
    ("position_mode", "kwkwk_slot"),
    [("sequential", "scored"), ("base_token_end", "scored"), ("sequential", "masked")],
)
def test_the_scorer_follows_recycled_slots(position_mode: str, kwkwk_slot: str) -> None:
    size = 5
    model = Zip2ZipForCausalLM(
        tiny_model("llama", V),
        evicting(size),
        TRANSFORMER,
        position_mode=position_mode,
        kwkwk_slot=kwkwk_slot,
    )
    model.eval()
    randomize(model)
    base = np.array([1, *repetitive(40, seed=7)], dtype=np.int64)
    window = canonical(model.compression, base)
    reference = oracle(size)
    reference.encode(base.tolist())
    assert len(reference.created) > size + 3
    scores = score_segmentation(model, window, 1, ("strict", "first", "exact"), max_tree_nodes=7)
    strict, first, exact = (scores.logprobs[m] for m in ("strict", "first", "exact"))
    ids = torch.from_numpy(window.ids)[None]
    with torch.no_grad():
        loss = model(ids, labels=ids).loss
    assert -strict.mean() == pytest.approx(float(loss), abs=1e-5)
    assert scores.tree_nodes > 0
    for target in range(1, len(window.ids)):
        expected = brute_force(model, base, window.ids, target)
        assert exact[target - 1] == pytest.approx(expected, abs=2e-5)
    assert (first >= exact - 1e-5).all() and (exact >= strict - 1e-5).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 9), st.integers(0, 2**32 - 1), st.integers(1, 120))
def test_id_spans_count_the_base_ids_each_id_read(size: int, seed: int, length: int) -> None:
    """Once slots are recycled, an id's span is what it stood for where it was read, not its
    slot's entry at the end (what canonical windows and chat loss masks are cut by)."""
    rng = random.Random(seed)
    base = [rng.randrange(3, 7) for _ in range(length)]
    stream = segmentation(oracle(size), base, rng)
    reference = oracle(size)
    expected = [len(reference.feed_id(id_)) for id_ in stream]
    assert id_spans(evicting(size), np.array(stream)).tolist() == expected


def test_training_runs_on_windows_that_recycle_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiny_text_model import save_tiny_model
    from train_setup import arguments
    from zip2zip_tokenizers.torch.hyper_state import HyperState
    from zip2zip_tokenizers.torch.training import Zip2ZipRecipe
    from zip2zip_tokenizers.torch.training.run import train

    update = HyperState.update
    filled: list[int] = []

    def watched(self: HyperState, *args: Any, **kwargs: Any) -> Any:
        view = update(self, *args, **kwargs)
        sizes = [len(self.codebooks.codebook(row)) for row in range(self.batch_size)]
        filled.extend(row for row, size in enumerate(sizes) if size == 8)
        return view

    monkeypatch.setattr(HyperState, "update", watched)

    model_dir = save_tiny_model(tmp_path / "model")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat, the dog sat on the hat. " * 30, encoding="utf-8")
    recipe = Zip2ZipRecipe(max_codebook_size=8, eviction="lru", lora_r=0, encoder_layers=1)
    args = arguments(str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2)
    outcome = train(str(model_dir), [str(corpus)], args, recipe, window=96)
    losses = [entry["loss"] for entry in outcome.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    assert outcome.trainer is not None
    assert outcome.trainer.model.compression.eviction == "lru"
    assert filled, "the training windows must fill their codebooks"
