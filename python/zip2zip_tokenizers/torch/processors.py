"""Score processors of generation over the extended vocabulary ``V + C``: repetition penalty,
no-repeat n-grams and a minimum length, with transformers' meanings, applied to the id stream
the model reads (a hypertoken is one id of its own row's codebook)."""

from __future__ import annotations

import numpy as np
import torch

from zip2zip_tokenizers.torch.generation_options import GenerationOptions


class ScoreProcessors:
    """Keeps what each row has read and turns raw next-id logits into scores."""

    def __init__(
        self,
        options: GenerationOptions,
        eos_ids: list[int],
        prompt: np.ndarray,
        prompt_mask: np.ndarray,
        width: int,
        device: torch.device,
    ) -> None:
        self.options = options
        self.eos = torch.tensor(eos_ids, dtype=torch.long, device=device)
        rows = prompt.shape[0]
        self.seen: torch.Tensor | None = None
        if options.repetition_penalty != 1.0:
            self.seen = torch.zeros((rows, width), dtype=torch.bool, device=device)
            ids = torch.from_numpy(prompt).to(device)
            self.seen.scatter_(1, ids, torch.from_numpy(prompt_mask.astype(bool)).to(device))
        self.streams: list[list[int]] = [
            [int(t) for t, keep in zip(row, keep_row, strict=True) if keep]
            for row, keep_row in zip(prompt.tolist(), prompt_mask.tolist(), strict=True)
        ]
        self.banned: list[dict[tuple[int, ...], set[int]]] = [{} for _ in range(rows)]
        if options.no_repeat_ngram_size:
            for row, stream in enumerate(self.streams):
                for end in range(options.no_repeat_ngram_size, len(stream) + 1):
                    self._remember(row, stream[:end])

    def _remember(self, row: int, stream: list[int]) -> None:
        n = self.options.no_repeat_ngram_size
        if len(stream) >= n:
            gram = tuple(stream[-n:])
            self.banned[row].setdefault(gram[:-1], set()).add(gram[-1])

    def __call__(self, logits: torch.Tensor, steps_done: int) -> torch.Tensor:
        """Scores of the next id after ``steps_done`` generated ids (``logits``: ``[B, V + C]``)."""
        scores = logits.float()
        options = self.options
        if self.seen is not None:
            penalty = options.repetition_penalty
            penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
            scores = torch.where(self.seen, penalised, scores)
        if options.no_repeat_ngram_size:
            context = options.no_repeat_ngram_size - 1
            for row, stream in enumerate(self.streams):
                key = tuple(stream[len(stream) - context :]) if context else ()
                banned = self.banned[row].get(key)
                if banned and len(stream) >= context:
                    scores[row, sorted(banned)] = float("-inf")
        if steps_done < options.min_new_tokens and len(self.eos):
            scores = scores.index_fill(1, self.eos, float("-inf"))
        return scores

    def append(self, chosen: np.ndarray, active: np.ndarray) -> None:
        """Records the ids the active rows just read."""
        if self.seen is not None:
            rows = torch.from_numpy(np.flatnonzero(active)).to(self.seen.device)
            ids = torch.from_numpy(chosen[active.astype(bool)]).to(self.seen.device)
            self.seen[rows, ids] = True
        if self.options.no_repeat_ngram_size:
            for row in np.flatnonzero(active).tolist():
                self.streams[row].append(int(chosen[row]))
                self._remember(row, self.streams[row])
