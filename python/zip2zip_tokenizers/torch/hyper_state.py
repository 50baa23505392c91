"""Per-row codebooks and the embeddings of their entries, kept in step with the ids a batch reads.

A :class:`HyperState` feeds every id a batch reads (prompt, then each generated id) to a native
``BatchCodebookState`` and embeds only the entries each update reports as new: never the whole
codebook, never padded to ``max_codebook_size`` rows. It also keeps, per row, the output vector
of the entry the next hypertoken id would create (LZW's KwKwK case), so that id can be scored
exactly when it is valid and is ``-inf`` when it is not.

Under autograd (training, full forwards) the tables are rebuilt out of place so gradients reach
the encoders; without it (generation) new rows are written in place into caches that grow by
doubling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from zip2zip_tokenizers._core import BatchCodebookState, CompressionConfig
from zip2zip_tokenizers.torch.ops import scatter_rows_


@dataclass
class StepView:
    """What the model may choose from after each column of the last update.

    ``sizes[b, t]``: hypertokens row ``b`` has after column ``t``; ``next_vectors``: the output
    vectors of the valid next entries, at the positions ``next_where`` (a bool ``[B, T]``).
    """

    sizes: torch.Tensor
    next_where: torch.Tensor
    next_vectors: torch.Tensor


class _Table:
    """One ``[B, capacity, D]`` table of entry vectors, grown on demand."""

    def __init__(self, batch: int, width: int, like: torch.Tensor) -> None:
        self.values = like.new_zeros((batch, 0, width))

    def ensure(self, slots: int, limit: int) -> None:
        capacity = self.values.shape[1]
        if slots <= capacity:
            return
        grown = min(max(slots, 2 * capacity, 16), max(limit, slots))
        pad = self.values.new_zeros((self.values.shape[0], grown - capacity, self.values.shape[2]))
        self.values = torch.cat([self.values, pad], dim=1)

    def write(self, rows: torch.Tensor, slots: torch.Tensor, vectors: torch.Tensor) -> None:
        if torch.is_grad_enabled():
            self.values = self.values.index_put((rows, slots), vectors.to(self.values.dtype))
        else:
            scatter_rows_(self.values, rows, slots, vectors)


class HyperState:
    """The codebooks of a batch and the input/output vectors of their entries (see module doc)."""

    def __init__(
        self,
        config: CompressionConfig,
        batch_size: int,
        input_encoder: nn.Module,
        output_encoder: nn.Module,
        input_weight: torch.Tensor,
        output_weight: torch.Tensor,
    ) -> None:
        self.config = config
        self.batch_size = batch_size
        self.codebooks = BatchCodebookState(config, batch_size)
        self._input_encoder = input_encoder
        self._output_encoder = output_encoder
        self._input_weight = input_weight
        self._output_weight = output_weight
        device = input_weight.device
        self.inputs = _Table(batch_size, input_weight.shape[1], input_weight)
        self.outputs = _Table(batch_size, output_weight.shape[1], output_weight)
        self.lengths = torch.zeros((batch_size, 0), dtype=torch.long, device=device)
        self.sizes = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.next_position = torch.zeros(batch_size, dtype=torch.long, device=device)
        # Columns fed so far, masked ones included (the KV cache's length).
        self.columns = 0
        self._entries = np.full((batch_size, 0, config.max_subtokens), -1, dtype=np.int64)

    @property
    def device(self) -> torch.device:
        return self._input_weight.device

    def update(self, ids: torch.Tensor, attention_mask: torch.Tensor | None) -> StepView:
        """Feeds ``ids`` (``[B, T]``; masked-out positions skipped), embeds the new entries and
        returns what the model may choose from after each column."""
        ids_np = ids.detach().cpu().numpy()
        mask_np = None if attention_mask is None else attention_mask.detach().cpu().numpy()
        rows, hyper_ids, subtokens, sizes, next_entries = self.codebooks.update_traced(
            ids_np, mask_np
        )
        self.columns += ids.shape[1]
        if len(hyper_ids):
            self._add_entries(rows, hyper_ids, subtokens)
        device = self.device
        sizes_t = torch.from_numpy(sizes).to(device)
        if sizes.shape[1]:
            self.sizes = sizes_t[:, -1].clone()
        next_where_np = next_entries[:, :, 0] >= 0
        next_where = torch.from_numpy(next_where_np).to(device)
        if next_where_np.any():
            pending = torch.from_numpy(next_entries[next_where_np]).to(device)
            next_vectors = self._output_encoder(pending, self._output_weight)
        else:
            next_vectors = self._output_weight.new_zeros((0, self._output_weight.shape[1]))
        return StepView(sizes=sizes_t, next_where=next_where, next_vectors=next_vectors)

    def _add_entries(self, rows: np.ndarray, hyper_ids: np.ndarray, subtokens: np.ndarray) -> None:
        device = self.device
        vocab = self.config.initial_vocab_size
        rows_t = torch.from_numpy(rows).to(device)
        slots_t = torch.from_numpy(hyper_ids - vocab).to(device)
        sub_t = torch.from_numpy(subtokens).to(device)
        needed = int(slots_t.max()) + 1
        limit = self.config.max_codebook_size
        self.inputs.ensure(needed, limit)
        self.outputs.ensure(needed, limit)
        if self.lengths.shape[1] < self.inputs.values.shape[1]:
            grow = self.inputs.values.shape[1] - self.lengths.shape[1]
            self.lengths = torch.cat(
                [self.lengths, self.lengths.new_zeros((self.batch_size, grow))], 1
            )
        self.inputs.write(rows_t, slots_t, self._input_encoder(sub_t, self._input_weight))
        self.outputs.write(rows_t, slots_t, self._output_encoder(sub_t, self._output_weight))
        self.lengths[rows_t, slots_t] = (sub_t >= 0).sum(1)
        if self._entries.shape[1] < needed:
            grown = np.full_like(
                self._entries,
                -1,
                shape=(self.batch_size, self.inputs.values.shape[1], subtokens.shape[1]),
            )
            grown[:, : self._entries.shape[1]] = self._entries
            self._entries = grown
        self._entries[rows, hyper_ids - vocab] = subtokens

    def base_ids(self, row: int, id: int) -> list[int]:
        """The base ids ``id`` stands for in row ``row`` (it must have been fed already)."""
        vocab = self.config.initial_vocab_size
        if id < vocab:
            return [id]
        entry = self._entries[row, id - vocab]
        return [int(t) for t in entry[entry >= 0]]

    def hyper_inputs(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(is_hyper, vectors)``: which of ``ids`` are hypertokens and their input vectors."""
        slots, is_hyper = self._slots(ids)
        rows = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(ids)
        return is_hyper, self.inputs.values[rows, slots]

    def spans(self, ids: torch.Tensor) -> torch.Tensor:
        """How many base tokens each id stands for."""
        slots, is_hyper = self._slots(ids)
        rows = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(ids)
        lengths = self.lengths[rows, slots] if self.lengths.shape[1] else torch.ones_like(ids)
        return torch.where(is_hyper, lengths, torch.ones_like(ids))

    def _slots(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vocab = self.config.initial_vocab_size
        is_hyper = ids >= vocab
        capacity = max(self.inputs.values.shape[1], 1)
        slots = (ids - vocab).clamp(0, capacity - 1)
        if self.inputs.values.shape[1] == 0:
            self.inputs.ensure(1, 1)
            self.outputs.ensure(1, 1)
        return slots, is_hyper
