"""Beam search whose beams carry their own codebooks.

A hypertoken id means what its own row's codebook says, so when beams are reordered the
codebooks, the entry vectors, the positions and the KV cache all move with them
(:meth:`HyperState.reorder`, the cache's ``reorder_cache``). Scores are sums of log-probabilities
over ``V + C`` ids; finished hypotheses are ranked by ``score / generated_length **
length_penalty`` as in transformers, and a batch stops when no running beam can beat its
worst kept hypothesis (transformers' default, ``early_stopping=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zip2zip_tokenizers.torch.generation_options import GenerationOptions
from zip2zip_tokenizers.torch.kv_cache import reserved_cache

if TYPE_CHECKING:
    from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM


@dataclass
class BeamResult:
    """Per batch row, its ``count`` best hypotheses (rows of one input together): generated
    ids, score and whether it ended in EOS."""

    generated: list[list[int]]
    scores: list[float]
    ended: list[bool]
    steps: int


class _Hypotheses:
    def __init__(self, beams: int, length_penalty: float) -> None:
        self.beams = beams
        self.length_penalty = length_penalty
        self.kept: list[tuple[float, list[int], bool]] = []

    def rank(self, score: float, length: int) -> float:
        ranked: float = score / float(max(length, 1)) ** self.length_penalty
        return ranked

    def add(self, score: float, ids: list[int], ended: bool) -> None:
        self.kept.append((self.rank(score, len(ids)), ids, ended))
        self.kept.sort(key=lambda kept: -kept[0])
        del self.kept[self.beams :]

    def done(self, best_running: float, length: int) -> bool:
        if len(self.kept) < self.beams:
            return False
        return self.kept[-1][0] >= self.rank(best_running, length)


def beam_search(
    model: Zip2ZipForCausalLM,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    options: GenerationOptions,
    eos: set[int],
    pad: int,
    num_beams: int,
    length_penalty: float,
) -> BeamResult:
    """Runs beam search from ``input_ids`` (``[B, T]``, left-padded with ``attention_mask``)."""
    batch, width = input_ids.shape[0], model.vocab_size
    rows = batch * num_beams
    device = model.device
    ids = input_ids.repeat_interleave(num_beams, 0)
    mask = None
    if attention_mask is not None and not bool(attention_mask.all()):
        mask = attention_mask.repeat_interleave(num_beams, 0).long()
    state = model.new_state(rows)
    cache = reserved_cache(model.base_model, ids.shape[1], options.max_new_tokens)
    out = model(ids, mask, state=state, past_key_values=cache, use_cache=True, logits_to_keep=1)
    cache = out.cache
    beam_scores = torch.zeros((batch, num_beams), dtype=torch.float32, device=device)
    beam_scores[:, 1:] = float("-inf")  # the first step chooses from one copy of the prompt
    tokens = np.zeros((rows, 0), dtype=np.int64)
    hypotheses = [_Hypotheses(num_beams, length_penalty) for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    eos_list = sorted(eos)
    steps = 0
    while steps < options.max_new_tokens and not done.all():
        logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        if steps < options.min_new_tokens and eos_list:
            logprobs[:, eos_list] = float("-inf")
        candidates = (logprobs + beam_scores.view(-1, 1)).view(batch, num_beams * width)
        top_scores, top_index = torch.topk(candidates, 2 * num_beams, dim=1)
        top_scores_h, top_index_h = top_scores.cpu().numpy(), top_index.cpu().numpy()
        next_rows = np.zeros(rows, dtype=np.int64)
        next_ids = np.full(rows, pad, dtype=np.int64)
        next_scores = np.full(rows, float("-inf"), dtype=np.float32)
        steps += 1
        for b in range(batch):
            chosen = 0
            if not done[b]:
                for score, index in zip(top_scores_h[b], top_index_h[b], strict=True):
                    beam, token = divmod(int(index), width)
                    source = b * num_beams + beam
                    if score == float("-inf"):
                        break
                    history = [*tokens[source].tolist(), token]
                    if token in eos:
                        hypotheses[b].add(float(score), history, True)
                        continue
                    slot = b * num_beams + chosen
                    next_rows[slot], next_ids[slot], next_scores[slot] = source, token, score
                    chosen += 1
                    if chosen == num_beams:
                        break
                best = float(top_scores_h[b].max())
                done[b] = chosen == 0 or hypotheses[b].done(best, steps)
            for slot in range(b * num_beams + chosen, (b + 1) * num_beams):
                next_rows[slot] = b * num_beams  # a filler row; its score keeps it unused
        beam_scores = torch.from_numpy(next_scores).to(device).view(batch, num_beams)
        tokens = np.concatenate([tokens[next_rows], next_ids[:, None]], axis=1)
        if steps == options.max_new_tokens or done.all():
            break
        state.reorder(next_rows)
        if cache is not None:
            cache.reorder_cache(torch.from_numpy(next_rows).to(device))
        view = state.update(next_ids[:, None], None, next_columns=model.next_columns(1))
        if mask is not None:
            mask = torch.cat([mask[torch.from_numpy(next_rows).to(device)],
                              mask.new_ones((rows, 1))], dim=1)  # fmt: skip
        out = model._forward_fed(
            torch.from_numpy(next_ids).to(device)[:, None],
            mask,
            None,
            position_ids=None,
            state=state,
            view=view,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = out.cache
    scores_h = beam_scores.cpu().numpy()
    for b in range(batch):
        for beam in range(num_beams):
            row = b * num_beams + beam
            if np.isfinite(scores_h[b, beam]) and not done[b]:
                hypotheses[b].add(float(scores_h[b, beam]), tokens[row].tolist(), False)
    return _best(hypotheses, steps, options.num_return_sequences)


def _best(hypotheses: list[_Hypotheses], steps: int, count: int) -> BeamResult:
    result = BeamResult([], [], [], steps)
    for kept in hypotheses:
        # Fewer finished hypotheses than asked for (every other candidate was -inf): the last
        # one repeats, so each input keeps its count of rows.
        best = kept.kept[:count]
        for score, ids, ended in best + best[-1:] * (count - len(best)):
            result.generated.append(ids)
            result.scores.append(score)
            result.ended.append(ended)
    return result


def beam_options_check(options: GenerationOptions, extra: dict[str, Any]) -> list[str]:
    """The options given with ``num_beams > 1`` that beam search does not implement."""
    unsupported = [name for name, value in extra.items() if value]
    if options.do_sample:
        unsupported.append("do_sample=True")
    if options.repetition_penalty != 1.0:
        unsupported.append("repetition_penalty")
    if options.no_repeat_ngram_size:
        unsupported.append("no_repeat_ngram_size")
    if options.stop_strings:
        unsupported.append("stop_strings")
    if options.output_scores or options.output_logits:
        unsupported.append("output_scores/output_logits")
    return unsupported
