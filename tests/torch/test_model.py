"""Zip2ZipForCausalLM on tiny models of every supported family: the invariants of issue 4."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from strategies import random_segmentation  # noqa: E402
from tiny_models import FAMILIES, tiny_model  # noqa: E402
from zip2zip_tokenizers import CodebookState, CompressionConfig, LZWCompressor  # noqa: E402
from zip2zip_tokenizers.torch import (  # noqa: E402
    HyperEncoderConfig,
    ModelMismatchError,
    Zip2ZipForCausalLM,
)

V, C, M = 64, 48, 4
MEAN = HyperEncoderConfig(kind="mean")
TRANSFORMER = HyperEncoderConfig(kind="transformer", num_heads=4, residual=True)


def config(codebook: int = C, disabled: tuple[int, ...] = (0, 1, 2)) -> CompressionConfig:
    return CompressionConfig(V, codebook, M, list(disabled), 0)


def repetitive(length: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    motifs = [[rng.randrange(3, 12) for _ in range(rng.randrange(2, 5))] for _ in range(3)]
    out: list[int] = []
    while len(out) < length:
        out.extend(motifs[rng.randrange(3)])
    return out[:length]


def canonical(ids: list[int], cfg: CompressionConfig | None = None) -> list[int]:
    return [int(x) for x in LZWCompressor(cfg or config()).encode(ids)]


def wrapped(family: str = "llama", encoder: HyperEncoderConfig = MEAN, **kwargs: Any) -> Any:
    tied = kwargs.pop("tied", False)
    dtype = kwargs.pop("dtype", torch.float32)
    cfg = kwargs.pop("cfg", config())
    base = tiny_model(family, V, tied=tied, dtype=dtype)
    model = Zip2ZipForCausalLM(base, cfg, encoder, **kwargs)
    return model.eval()


def randomize(model: Any, seed: int = 0) -> None:
    """Non-trivial encoder weights (a fresh residual encoder is exactly the first subtoken)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*model.input_encoder.parameters(), *model.output_encoder.parameters()]:
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)


def left_padded(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``prompts`` as one batch padded on the left with id 0: the ids and the attention mask."""
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


@torch.no_grad()
def stepwise_logits(
    model: Any, ids: torch.Tensor, prompt: int, *, with_mask: bool = False
) -> torch.Tensor:
    """The logits of the single row ``ids`` fed as its first ``prompt`` columns, then one column
    a step through the KV cache and one codebook state (``with_mask``: each step also passes
    its all-ones attention mask), concatenated over the columns."""
    state = model.new_state(1)
    out = model(ids[:, :prompt], state=state, use_cache=True)
    steps = [out.logits[0]]
    for t in range(prompt, ids.shape[1]):
        mask = torch.ones((1, t + 1), dtype=torch.long) if with_mask else None
        out = model(
            ids[:, t : t + 1],
            mask,
            state=state,
            past_key_values=out.past_key_values,
            use_cache=True,
        )
        steps.append(out.logits[0])
    return torch.cat(steps)


def assert_same_logits(incremental: torch.Tensor, full: torch.Tensor) -> None:
    """The same ``-inf`` columns, and the finite logits equal within float32 noise."""
    finite = torch.isfinite(full)
    assert torch.equal(finite, torch.isfinite(incremental))
    torch.testing.assert_close(incremental[finite], full[finite], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tied", [False, True])
def test_without_a_codebook_logits_equal_the_base_models_exactly(family: str, tied: bool) -> None:
    model = wrapped(family, tied=tied, cfg=config(codebook=0))
    ids = torch.randint(0, V, (2, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    with torch.no_grad():
        ours = model(ids, mask).logits
        positions = (mask.cumsum(-1) - 1).clamp(min=0).masked_fill(mask == 0, 0)
        theirs = model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    assert ours.shape == theirs.shape == (2, 9, V)
    assert torch.equal(ours, theirs)


def valid_slots(stream: list[int], cfg: CompressionConfig) -> list[set[int]]:
    """After each id, the hypertoken ids that may come next (probing a state with each)."""
    state = CodebookState(cfg)
    out = []
    for token in stream:
        state.update([token])
        allowed = set()
        for candidate in range(V, V + len(state) + 1):
            probe = CodebookState._from_parts(cfg, state.codebook, state.pending_id)
            try:
                probe.update([candidate])
            except ValueError:
                continue
            allowed.add(candidate)
        out.append(allowed)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_incremental_generation_matches_one_full_forward(family: str) -> None:
    model = wrapped(family, TRANSFORMER, position_mode="base_token_end")
    randomize(model)
    cfg = model.compression
    stream = random_segmentation(cfg, repetitive(60), random.Random(3))
    ids = torch.tensor([stream])
    with torch.no_grad():
        full = model(ids).logits[0]
    assert_same_logits(stepwise_logits(model, ids, 5, with_mask=True), full)


def test_minus_inf_exactly_on_slots_that_can_not_come_next() -> None:
    model = wrapped("llama", TRANSFORMER)
    randomize(model)
    cfg = model.compression
    stream = random_segmentation(cfg, repetitive(80, seed=2) + [5] * 9, random.Random(1))
    with torch.no_grad():
        logits = model(torch.tensor([stream])).logits[0]
    for position, allowed in enumerate(valid_slots(stream, cfg)):
        finite = set((torch.isfinite(logits[position, V:]).nonzero().flatten() + V).tolist())
        assert finite == allowed, position
        assert torch.isfinite(logits[position, :V]).all()
        assert torch.isneginf(logits[position, V:][~torch.isfinite(logits[position, V:])]).all()


def test_the_about_to_be_created_slot_scores_its_own_entry_not_the_future_one() -> None:
    model = wrapped("llama", MEAN, tied=True)
    stream = canonical([5, 5, 5, 5, 5, 5, 7])  # LZW's KwKwK case: 5, V, ...
    assert V in stream
    ids = torch.tensor([stream])
    captured: list[Any] = []
    head = model.base_model.get_output_embeddings()
    handle = head.register_forward_hook(lambda m, a, o: captured.append(a[0]))
    with torch.no_grad():
        out = model(ids, labels=ids)
    handle.remove()
    hidden = captured[0][0]
    weight = head.weight
    position = stream.index(V) - 1  # predicting the KwKwK id: its entry is (5, 5)
    expected = hidden[position] @ weight[[5, 5]].mean(0)
    torch.testing.assert_close(out.logits[0, position, V], expected)
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_mean_encoder_embeds_a_hypertoken_as_the_mean_of_its_base_embeddings(family: str) -> None:
    model = wrapped(family, MEAN)
    stream = canonical(repetitive(40))
    state = model.new_state(1)
    with torch.no_grad():
        model(torch.tensor([stream]), state=state)
        table = model.base_model.get_input_embeddings().weight
        for position, token in enumerate(stream):
            if token < V:
                continue
            base = state.base_ids(0, token)
            expected = table[base].mean(0)
            got = model.embed(torch.tensor([[token]]), state)[0, 0]
            torch.testing.assert_close(got, expected, msg=f"position {position}")


def test_a_fresh_residual_encoder_maps_each_entry_to_its_first_subtoken() -> None:
    model = wrapped("qwen2", TRANSFORMER)
    stream = canonical(repetitive(40))
    state = model.new_state(1)
    with torch.no_grad():
        model(torch.tensor([stream]), state=state)
        table = model.base_model.get_input_embeddings().weight
        for token in {t for t in stream if t >= V}:
            first = state.base_ids(0, token)[0]
            got = model.embed(torch.tensor([[token]]), state)[0, 0]
            torch.testing.assert_close(got, table[first])


def test_left_padded_rows_match_the_same_rows_alone() -> None:
    model = wrapped("mistral", TRANSFORMER)
    randomize(model)
    a = canonical(repetitive(40, seed=1))
    b = canonical(repetitive(25, seed=2))
    width = max(len(a), len(b))
    ids = torch.zeros((2, width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate([a, b]):
        ids[row, width - len(seq) :] = torch.tensor(seq)
        mask[row, width - len(seq) :] = 1
    with torch.no_grad():
        batched = model(ids, mask).logits
        for row, seq in enumerate([a, b]):
            alone = model(torch.tensor([seq])).logits[0]
            got = batched[row, width - len(seq) :]
            assert torch.equal(torch.isfinite(got), torch.isfinite(alone))
            keep = torch.isfinite(alone)
            torch.testing.assert_close(got[keep], alone[keep], rtol=1e-4, atol=1e-5)


def test_base_token_positions_place_each_hypertoken_at_its_last_base_token() -> None:
    model = wrapped("llama", MEAN, position_mode="base_token_end")
    stream = canonical([5, 6, 5, 6, 5, 6, 7])
    state = model.new_state(1)
    ids = torch.tensor([stream])
    state.update(ids, None)
    positions = state.positions(ids, None, model.position_mode)[0].tolist()
    spans = [len(state.base_ids(0, t)) for t in stream]
    assert positions == [sum(spans[: i + 1]) - 1 for i in range(len(stream))]
    assert positions[-1] == 6


def test_bf16_models_run_and_agree_with_fp32() -> None:
    stream = canonical(repetitive(30))
    ids = torch.tensor([stream])
    with torch.no_grad():
        full = wrapped("llama", MEAN)(ids).logits
        half = wrapped("llama", MEAN, dtype=torch.bfloat16)(ids).logits
    assert half.dtype == torch.bfloat16
    assert torch.equal(torch.isfinite(full), torch.isfinite(half))
    keep = torch.isfinite(full)
    torch.testing.assert_close(half.float()[keep], full[keep], rtol=0.05, atol=0.05)


def test_training_step_reaches_lora_and_encoders() -> None:
    peft = pytest.importorskip("peft")
    base = tiny_model("llama", V)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    model = Zip2ZipForCausalLM.from_base(base, config(), TRANSFORMER, lora=lora)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in trainable) and any("input_encoder" in n for n in trainable)
    assert not any("embed_tokens" in n for n in trainable)
    stream = canonical(repetitive(50))
    ids = torch.tensor([stream])
    out = model(ids, labels=ids)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    lora_grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert all(g is not None and g.abs().sum() > 0 for g in lora_grads)
    encoder_grads = [p.grad for p in model.output_encoder.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in encoder_grads)


def test_wrong_base_model_is_a_clear_error() -> None:
    with pytest.raises(ModelMismatchError, match="initial_vocab_size"):
        Zip2ZipForCausalLM(tiny_model("llama", V + 1), config(), MEAN)


def test_generation_decodes_to_the_base_ids_it_reports_and_uses_hypertokens() -> None:
    model = wrapped("llama", MEAN, tied=True)
    prompt = canonical(repetitive(40))
    ids = torch.tensor([prompt, prompt])
    out = model.generate(
        ids,
        max_new_tokens=30,
        do_sample=True,
        temperature=3.0,
        eos_token_id=2,
        generator=torch.Generator().manual_seed(0),
        return_dict_in_generate=True,
    )
    compressor = LZWCompressor(model.compression)
    base_prompt = [int(x) for x in compressor.decode(prompt)]
    made_hyper = False
    for row in range(2):
        generated = out.sequences[row, len(prompt) :].tolist()[: out.steps]
        made_hyper |= any(t >= V for t in generated)
        decoded = [int(x) for x in compressor.decode(out.sequences[row].numpy())]
        if out.finish_reasons[row] == "eos":
            decoded = decoded[: len(base_prompt) + out.base_tokens[row]]
        assert decoded == base_prompt + out.generated_base_ids[row]
        assert out.base_tokens[row] == len(out.generated_base_ids[row]) >= out.steps or (
            out.finish_reasons[row] == "eos"
        )
    assert made_hyper


def test_greedy_generation_follows_the_full_forward_argmax() -> None:
    model = wrapped("gpt_neox", TRANSFORMER)
    randomize(model, seed=4)
    prompt = canonical(repetitive(30))
    out = model.generate(torch.tensor([prompt]), max_new_tokens=8, eos_token_id=[])
    assert isinstance(out, torch.Tensor)
    with torch.no_grad():
        logits = model(out[:, :-1]).logits[0]
    expected = logits[len(prompt) - 1 :].argmax(-1)
    assert out[0, len(prompt) :].tolist() == expected.tolist()


def test_eos_stops_a_row_and_pads_it() -> None:
    model = wrapped("llama", MEAN)
    prompt = torch.tensor([canonical(repetitive(20))])
    first = model.generate(prompt, max_new_tokens=1, eos_token_id=[])
    eos = int(first[0, -1])
    out = model.generate(
        prompt, max_new_tokens=5, eos_token_id=eos, pad_token_id=0, return_dict_in_generate=True
    )
    assert out.finish_reasons == ["eos"] and out.steps == 1
    assert out.sequences[0, -1] == eos


def seeded_numpy(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_vocab_size_means_the_extended_vocabulary_everywhere() -> None:
    from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

    model = wrapped("llama", MEAN)
    ids = torch.tensor([canonical(repetitive(40))])
    logits = model(ids).logits
    assert model.vocab_size == V + C == logits.shape[-1]
    assert model.initial_vocab_size == V
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({f"t{i}": i for i in range(V)}, unk_token="t0"))
    tokenizer = Zip2ZipTokenizer(PreTrainedTokenizerFast(tokenizer_object=words), config())
    assert tokenizer.vocab_size == len(tokenizer) == model.vocab_size
    assert tokenizer.initial_vocab_size == model.initial_vocab_size


def test_no_deprecation_warnings_from_our_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    import transformers.utils.generic as generic

    logged: list[str] = []
    monkeypatch.setattr(generic.logger, "warning_once", lambda msg, *a, **k: logged.append(msg))
    model = wrapped("llama", MEAN)
    ids = torch.tensor([canonical(repetitive(30))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        model(ids, labels=ids)
        model.generate(ids, max_new_tokens=3)
        model.generate(ids, max_new_tokens=3, num_beams=2)
    assert not [m for m in logged if "deprecated" in m]
