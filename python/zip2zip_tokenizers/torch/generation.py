"""Generation with hypertokens: KV cache, per-row codebooks grown from the model's own output,
greedy or sampled choice over ``V + C`` ids (uncreated slots ``-inf``), transformers' score
processors, EOS and stop strings. Options: :class:`GenerationOptions`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zip2zip_tokenizers._core import InvalidArgumentError, LZWCompressor
from zip2zip_tokenizers.torch.beam_search import beam_options_check, beam_search
from zip2zip_tokenizers.torch.generation_options import (
    GenerationOptions,
    InvalidGenerationOptionError,
    UnsupportedGenerationOptionError,
)
from zip2zip_tokenizers.torch.inputs import check_ids
from zip2zip_tokenizers.torch.kv_cache import reserved_cache
from zip2zip_tokenizers.torch.processors import ScoreProcessors
from zip2zip_tokenizers.torch.sampling import select_next
from zip2zip_tokenizers.torch.streamer import TextStreamer

if TYPE_CHECKING:
    from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM

__all__ = ["GenerateOutput", "GenerationOptions", "TextStreamer", "generate"]


@dataclass
class GenerateOutput:
    """``sequences``: prompt + generated ids (``[B, T + steps]``; finished rows padded);
    ``base_tokens``: base tokens each row generated; ``steps``: model steps taken;
    ``finish_reasons``: ``"eos"``, ``"stop_string"`` or ``"length"`` per row; ``scores`` /
    ``logits`` (with ``output_scores`` / ``output_logits``): one ``[B, V + C]`` tensor per step,
    the scores after the processors (repetition penalty, n-grams, minimum length; before
    temperature and top-k/p) / the model's raw logits; ``sequences_scores`` (beam search): each
    row's best hypothesis's length-penalised log-probability."""

    sequences: torch.Tensor
    base_tokens: list[int]
    steps: int
    finish_reasons: list[str] = field(default_factory=list)
    generated_base_ids: list[list[int]] = field(default_factory=list)
    scores: tuple[torch.Tensor, ...] | None = None
    logits: tuple[torch.Tensor, ...] | None = None
    sequences_scores: torch.Tensor | None = None


class _StopStrings:
    """Finds stop strings in each row's generated text, looking only at its new tail."""

    def __init__(self, stops: Sequence[str], tokenizer: Any, rows: int) -> None:
        self.stops = list(stops)
        self.tokenizer = getattr(tokenizer, "base_tokenizer", tokenizer)
        self.longest = max((len(s) for s in self.stops), default=0)
        self.checked = [0] * rows

    def hit(self, row: int, base_ids: list[int]) -> bool:
        if not self.stops:
            return False
        text: str = self.tokenizer.decode(base_ids)
        start = max(0, self.checked[row] - self.longest)
        self.checked[row] = len(text)
        return any(stop in text[start:] for stop in self.stops)


def generate(
    model: Zip2ZipForCausalLM,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    generation_config: Any = None,
    *,
    tokenizer: Any = None,
    streamer: TextStreamer | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> torch.Tensor | GenerateOutput:
    """Generates up to ``max_new_tokens`` ids (model steps; each may be a hypertoken) per row.

    ``input_ids`` are hypertoken ids as ``Zip2ZipTokenizer`` returns them (left padding with an
    ``attention_mask``). ``options`` are the fields of :class:`GenerationOptions`
    (transformers' names: ``max_new_tokens``, ``do_sample``, ``temperature``, ``top_k``,
    ``top_p``, ``repetition_penalty``, ``min_new_tokens``, ``no_repeat_ngram_size``,
    ``output_scores``, ``output_logits``, ``return_dict_in_generate``...), over a
    ``generation_config`` (a ``GenerationOptions`` or a transformers ``GenerationConfig``); an
    option it does not implement raises ``UnsupportedGenerationOptionError`` naming it. Rows
    stop at an EOS id (``eos_token_id``, default the tokenizer's or the base model's generation
    config's) or when their text contains one of ``stop_strings``; finished rows are padded
    with ``pad_token_id``. The returned ids decode to exact text with
    ``Zip2ZipTokenizer.batch_decode``.
    """
    if isinstance(generation_config, GenerationOptions):
        opts = GenerationOptions.build(**{**dataclasses.asdict(generation_config), **options})
    else:
        opts = GenerationOptions.build(generation_config, **options)
    _check_prompt(input_ids, attention_mask)
    _check_ids_in_vocabulary(opts, model.total_vocab_size)
    if opts.stop_strings and tokenizer is None:
        raise InvalidGenerationOptionError(
            "stop_strings needs tokenizer= to turn base ids into text"
        )
    copies = opts.num_return_sequences
    if copies > 1 and opts.num_beams == 1:
        # Independent samples: each input row n times, rows of one input together.
        input_ids = input_ids.repeat_interleave(copies, 0)
        if attention_mask is not None:
            attention_mask = attention_mask.repeat_interleave(copies, 0)
    max_new_tokens = opts.max_new_tokens
    rows = input_ids.shape[0]
    if streamer is not None and rows != 1:
        raise InvalidGenerationOptionError(
            f"a streamer follows one sequence: generate {rows} rows without one (a batch of "
            "one row and num_return_sequences=1 with it)"
        )
    device = model.device
    input_ids = input_ids.to(device)
    mask = (
        torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(device).long()
    )
    if opts.eos_token_id is None:
        default = _default_eos(model, tokenizer)
        if default is not None and not isinstance(default, int):
            default = tuple(int(e) for e in default)
        opts = dataclasses.replace(opts, eos_token_id=default)
    eos = set(opts.eos_ids)
    pad = _default_pad(opts.pad_token_id, tokenizer, eos)
    if opts.num_beams > 1:
        return _beam_search(model, input_ids, attention_mask, opts, eos, pad, streamer)
    stops = _StopStrings(list(opts.stop_strings), tokenizer, rows)
    mask_host = mask.cpu().numpy()
    processors = ScoreProcessors(
        opts, sorted(eos), input_ids.cpu().numpy(), mask_host, model.total_vocab_size, device
    )
    scores_out: list[torch.Tensor] = []
    logits_out: list[torch.Tensor] = []

    # Without padding the base model gets no mask at all (its check for one costs a device sync
    # per step); a finished row is masked from then on.
    padded = attention_mask is not None and not bool(mask.all())
    state = model.new_state(rows)
    cache = reserved_cache(model.base_model, input_ids.shape[1], max_new_tokens)
    out = model(
        input_ids,
        mask if padded else None,
        state=state,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    finished = np.zeros(rows, dtype=bool)
    reasons = ["length"] * rows
    generated: list[np.ndarray] = []
    base_ids: list[list[int]] = [[] for _ in range(rows)]
    steps = 0
    while steps < max_new_tokens and not finished.all():
        raw = out.logits[:, -1]
        scores = processors(raw, steps)
        if opts.output_logits:
            logits_out.append(raw)
        if opts.output_scores:
            scores_out.append(scores)
        chosen_t = select_next(
            scores,
            do_sample=opts.do_sample,
            temperature=opts.temperature,
            top_k=opts.top_k,
            top_p=opts.top_p,
            generator=generator,
        )
        # The one wait for the device per step: the codebooks live on the host.
        chosen = np.where(finished, pad, chosen_t.cpu().numpy())
        active = (~finished).astype(np.int64)[:, None]
        generated.append(chosen)
        processors.append(chosen, active[:, 0])
        steps += 1
        # Feed the chosen ids first: a hypertoken's base ids (a KwKwK id's too) exist only then.
        view = state.update(chosen[:, None], active, next_columns=model.next_columns(1))
        for row in np.flatnonzero(active[:, 0]).tolist():
            new = state.last_read(row)
            base_ids[row].extend(new)
            if streamer is not None:
                streamer.put(new)
            if new[-1] in eos:
                finished[row], reasons[row] = True, "eos"
            elif stops.hit(row, base_ids[row]):
                finished[row], reasons[row] = True, "stop_string"
        if steps == max_new_tokens or finished.all():
            break
        padded = padded or not active.all()
        if padded:
            # Until a row was masked the mask was all ones and not kept up to date.
            behind = state.columns - 1 - mask.shape[1]
            if behind:
                mask = torch.cat([mask, mask.new_ones((rows, behind))], dim=1)
            step_ids, step_mask = torch.from_numpy(np.stack([chosen, active[:, 0]])).to(device)
            mask = torch.cat([mask, step_mask[:, None]], dim=1)
        else:
            step_ids = torch.from_numpy(chosen).to(device)
        out = model._forward_fed(
            step_ids[:, None],
            mask if padded else None,
            None,
            position_ids=None,
            state=state,
            view=view,
            past_key_values=out.past_key_values,
            use_cache=True,
            logits_to_keep=1,
        )
    if streamer is not None:
        streamer.end()
    new_ids = torch.from_numpy(np.stack(generated, axis=1)) if generated else None
    sequences = input_ids if new_ids is None else torch.cat([input_ids, new_ids.to(device)], 1)
    if not opts.return_dict_in_generate:
        return sequences
    return GenerateOutput(
        sequences=sequences,
        base_tokens=[len(ids) for ids in base_ids],
        steps=steps,
        finish_reasons=reasons,
        generated_base_ids=base_ids,
        scores=tuple(scores_out) if opts.output_scores else None,
        logits=tuple(logits_out) if opts.output_logits else None,
    )


def _beam_search(
    model: Zip2ZipForCausalLM,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    opts: GenerationOptions,
    eos: set[int],
    pad: int,
    streamer: TextStreamer | None,
) -> torch.Tensor | GenerateOutput:
    unsupported = beam_options_check(opts, {"streamer": streamer is not None})
    if unsupported:
        raise UnsupportedGenerationOptionError(
            f"beam search (num_beams={opts.num_beams}) does not support {', '.join(unsupported)}"
        )
    mask = None if attention_mask is None else attention_mask.to(input_ids.device)
    result = beam_search(
        model, input_ids, mask, opts, eos, pad, opts.num_beams, opts.length_penalty
    )
    copies = opts.num_return_sequences
    input_ids = input_ids.repeat_interleave(copies, 0)
    if mask is not None:
        mask = mask.repeat_interleave(copies, 0)
    longest = max(len(ids) for ids in result.generated)
    new = torch.tensor([ids + [pad] * (longest - len(ids)) for ids in result.generated])
    sequences = torch.cat([input_ids, new.to(input_ids.device)], dim=1)
    if not opts.return_dict_in_generate:
        return sequences
    codec = LZWCompressor(model.compression)
    base_ids = []
    for row, ids in enumerate(result.generated):
        prompt = input_ids[row] if mask is None else input_ids[row][mask[row].bool()]
        before = len(codec.decode(prompt.tolist()))
        base_ids.append([int(t) for t in codec.decode([*prompt.tolist(), *ids])[before:]])
    return GenerateOutput(
        sequences=sequences,
        base_tokens=[len(ids) for ids in base_ids],
        steps=result.steps,
        finish_reasons=["eos" if ended else "length" for ended in result.ended],
        generated_base_ids=base_ids,
        sequences_scores=torch.tensor(result.scores),
    )


def _check_prompt(input_ids: Any, attention_mask: Any) -> None:
    """A prompt of at least one visible id per row, and a mask of the prompt's shape."""
    check_ids(input_ids, attention_mask)
    if attention_mask is None:
        return
    if attention_mask.shape != input_ids.shape:
        raise InvalidArgumentError(
            f"attention_mask must have input_ids' shape {tuple(input_ids.shape)}, got "
            f"{tuple(attention_mask.shape)}"
        )
    empty = (attention_mask == 0).all(dim=1).nonzero()
    if len(empty):
        raise InvalidArgumentError(
            f"attention_mask row {int(empty[0])} masks every id: a row to generate from needs "
            "at least one id"
        )


def _check_ids_in_vocabulary(options: GenerationOptions, total_vocab_size: int) -> None:
    pad = [] if options.pad_token_id is None else [options.pad_token_id]
    for name, ids in [("eos_token_id", options.eos_ids), ("pad_token_id", pad)]:
        outside = [i for i in ids if i >= total_vocab_size]
        if outside:
            raise InvalidGenerationOptionError(
                f"{name} {outside[0]} is not an id of the model: ids are below {total_vocab_size} "
                "(V + C)"
            )


def _default_eos(model: Zip2ZipForCausalLM, tokenizer: Any) -> int | Sequence[int] | None:
    if tokenizer is not None and tokenizer.eos_token_id is not None:
        eos: int = tokenizer.eos_token_id
        return eos
    config = getattr(model.base_model, "generation_config", None)
    value: int | Sequence[int] | None = getattr(config, "eos_token_id", None)
    return value


def _default_pad(pad_token_id: int | None, tokenizer: Any, eos: set[int]) -> int:
    if pad_token_id is not None:
        return pad_token_id
    if tokenizer is not None and tokenizer.pad_token_id is not None:
        pad: int = tokenizer.pad_token_id
        return pad
    return min(eos) if eos else 0
