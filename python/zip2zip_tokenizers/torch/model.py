"""``Zip2ZipForCausalLM``: any Hugging Face causal LM reading and writing hypertokens.

The base model is used only through ``get_input_embeddings()`` / ``get_output_embeddings()`` and
its ``forward(inputs_embeds=...)``, so every architecture that supports those works, tied or
untied, with or without a PEFT adapter. Hypertoken ids ``>= V`` are embedded from per-row caches
that a ``HyperState`` fills incrementally; logits cover ``V + C`` ids (see
``extended_logits``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn
from transformers.utils.generic import ModelOutput

from zip2zip_tokenizers._core import CompressionConfig, InvalidArgumentError
from zip2zip_tokenizers.torch.checkpoint import (
    is_peft,
    load_base_model,
    load_checkpoint,
    locate_base,
    save_checkpoint,
)
from zip2zip_tokenizers.torch.encoders import HyperEncoderConfig, build_hyper_encoder
from zip2zip_tokenizers.torch.errors import ModelMismatchError
from zip2zip_tokenizers.torch.fused_loss import fusable_head, fused_hidden_loss
from zip2zip_tokenizers.torch.hyper_state import HyperState, StepView
from zip2zip_tokenizers.torch.inputs import (
    check_count,
    check_ids,
    check_labels_shape,
    check_positions,
    check_uncompressed,
)
from zip2zip_tokenizers.torch.logits import extended_logits
from zip2zip_tokenizers.torch.loss import (
    DEFAULT_CHUNK_POSITIONS,
    LossSums,
    check_labels,
    chunked_hidden_loss,
    chunked_logits_loss,
    token_type_loss,
)
from zip2zip_tokenizers.torch.loss import (
    IGNORE_INDEX as IGNORE_INDEX,
)

if TYPE_CHECKING:
    from zip2zip_tokenizers.torch.generation import GenerateOutput, TextStreamer

PositionMode = Literal["sequential", "base_token_end"]
KwKwKSlot = Literal["scored", "masked"]
# Base-model configs whose logits are not just ``lm_head(hidden)``: their loss needs the logits.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


@dataclass
class Zip2ZipOutput(ModelOutput):
    """``logits``: ``[B, T', V + C]`` (``T'`` = ``logits_to_keep`` or ``T``; ``None`` when
    ``return_logits=False``); ``loss``: mean next-id cross-entropy when ``labels`` were given;
    ``past_key_values`` when ``use_cache``; ``state``: the batch's codebooks after these ids
    (pass it back with the next ids).

    With labels, also the parts a trainer normalises itself: ``loss_sum`` (summed
    cross-entropy), ``num_targets``, ``loss_stats`` (detached sums named by
    ``zip2zip_tokenizers.torch.loss.LOSS_STATS``: the loss and the top-1 hits by target
    kind, and how many top-1 ids are hypertokens) and, with a token-type head,
    ``token_type_loss`` (summed binary cross-entropy of "the next id is a hypertoken") and
    ``token_type_correct``.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    # transformers >= 5 calls a model's KV cache ``cache`` (``past_key_values`` before).
    cache: Any = None
    state: HyperState | None = None
    loss_sum: torch.Tensor | None = None
    num_targets: torch.Tensor | None = None
    loss_stats: torch.Tensor | None = None
    token_type_loss: torch.Tensor | None = None
    token_type_correct: torch.Tensor | None = None

    @property
    def past_key_values(self) -> Any:
        """The KV cache (``use_cache=True``)."""
        return self.cache


class Zip2ZipForCausalLM(nn.Module):
    """A causal LM over base tokens and hypertokens (see the module doc)."""

    # A transformers PreTrainedModel or a peft PeftModel wrapping one.
    base_model: Any

    def __init__(
        self,
        base_model: Any,
        compression: CompressionConfig,
        encoder_config: HyperEncoderConfig | None = None,
        *,
        position_mode: PositionMode = "sequential",
        base_model_name_or_path: str | None = None,
        kwkwk_slot: KwKwKSlot = "scored",
        token_type_head: bool = False,
    ) -> None:
        super().__init__()
        if position_mode not in ("sequential", "base_token_end"):
            raise ModelMismatchError(
                f"position_mode must be 'sequential' or 'base_token_end', got {position_mode!r}"
            )
        if kwkwk_slot not in ("scored", "masked"):
            raise ModelMismatchError(f"kwkwk_slot must be 'scored' or 'masked', got {kwkwk_slot!r}")
        if not callable(getattr(base_model, "get_input_embeddings", None)):
            raise TypeError(
                f"base_model must be a causal LM with get_input_embeddings(), got "
                f"{type(base_model).__name__}"
            )
        if encoder_config is not None and not isinstance(encoder_config, HyperEncoderConfig):
            raise TypeError(
                f"encoder_config must be a HyperEncoderConfig, got {type(encoder_config).__name__}"
            )
        if not isinstance(compression, CompressionConfig):
            raise TypeError(
                f"compression must be a CompressionConfig, got {type(compression).__name__}"
            )
        input_embeddings = base_model.get_input_embeddings()
        output_embeddings = base_model.get_output_embeddings()
        if output_embeddings is None:
            raise ModelMismatchError(f"{type(base_model).__name__} has no output embeddings")
        width = input_embeddings.weight.shape[1]
        vocab = compression.initial_vocab_size
        for name, table in [("input", input_embeddings), ("output", output_embeddings)]:
            if table.weight.shape[0] != vocab:
                raise ModelMismatchError(
                    f"the base model's {name} embeddings have {table.weight.shape[0]} rows but "
                    f"the compression config's initial_vocab_size is {vocab}; build the "
                    f"tokenizer with initial_vocab_size={table.weight.shape[0]}"
                )
        self.base_model = base_model
        self.compression = compression
        self.encoder_config = (encoder_config or HyperEncoderConfig()).resolved(width)
        self.position_mode: PositionMode = position_mode
        # The about-to-be-created slot (LZW's KwKwK case): scored with its own entry, or -inf as
        # in the authors' runtime and training (see docs/interop.md). Saved with the checkpoint.
        self.kwkwk_slot: KwKwKSlot = kwkwk_slot
        # Loaded from a checkpoint of the authors' runtime (it says nothing of its KwKwK rule):
        # saving it warns when their runtime could not load the result (see save_pretrained).
        self.authors_origin = False
        self.base_model_name_or_path = base_model_name_or_path or getattr(
            getattr(base_model, "config", None), "_name_or_path", None
        )
        weight = input_embeddings.weight
        m, pad = compression.max_subtokens, compression.pad_token_id
        self.input_encoder = build_hyper_encoder(
            self.encoder_config, width, m, pad, self.encoder_config.input_residual
        )
        self.output_encoder = (
            self.input_encoder
            if self.encoder_config.tie_encoders
            else build_hyper_encoder(self.encoder_config, width, m, pad)
        )
        self.input_encoder.to(device=weight.device, dtype=weight.dtype)
        if self.output_encoder is not self.input_encoder:
            # Beside the table it reads: a device_map may put the head on another device.
            head = output_embeddings.weight
            self.output_encoder.to(device=head.device, dtype=head.dtype)
        # The auxiliary "is the next id a hypertoken" classifier (zip2zip++ v0.6.3); training
        # only: generation never reads it.
        self.token_type_head = (
            nn.Linear(width, 1, device=weight.device, dtype=weight.dtype)
            if token_type_head
            else None
        )
        if self.token_type_head is not None:
            nn.init.zeros_(self.token_type_head.weight)
            nn.init.zeros_(self.token_type_head.bias)
        self.loss_chunk_positions = DEFAULT_CHUNK_POSITIONS
        # The training loss from hidden states: fused (gradients in the forward pass) when the
        # output layer is a plain linear layer, else chunked with recomputation.
        self.fused_loss = True
        plain = base_model.get_base_model() if is_peft(base_model) else base_model
        parameters = inspect.signature(plain.forward).parameters
        self._takes_logits_to_keep = "logits_to_keep" in parameters
        # transformers >= 5.x renamed ``past_key_values`` to ``cache`` (the old name warns).
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def from_base(
        cls,
        base: str | Path | nn.Module,
        compression: CompressionConfig,
        encoder_config: HyperEncoderConfig | None = None,
        *,
        lora: Any = None,
        position_mode: PositionMode = "sequential",
        kwkwk_slot: KwKwKSlot = "scored",
        token_type_head: bool = False,
        **model_kwargs: Any,
    ) -> Zip2ZipForCausalLM:
        """Wraps a base model (a local directory / hub name loaded with
        ``AutoModelForCausalLM.from_pretrained(base, **model_kwargs)``, or a model) with fresh
        hyper-encoders, and a PEFT adapter when ``lora`` (a ``peft.LoraConfig``) is given."""
        name = None
        model: Any = base
        if isinstance(base, (str, Path)):
            # A local directory as an absolute path: the checkpoint and the adapter record it.
            name = locate_base(str(base), "from_base")
            model = load_base_model(name, "from_base", **model_kwargs)
        if lora is not None:
            from peft import get_peft_model

            model = get_peft_model(model, lora)
        return cls(
            model,
            compression,
            encoder_config,
            position_mode=position_mode,
            base_model_name_or_path=name,
            kwkwk_slot=kwkwk_slot,
            token_type_head=token_type_head,
        )

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs: Any) -> Zip2ZipForCausalLM:
        """Loads a checkpoint written by ``save_pretrained`` or in the authors' released
        layout (see ``zip2zip_tokenizers.torch.checkpoint``)."""
        return load_checkpoint(cls, path, **kwargs)

    def save_pretrained(
        self,
        path: str | Path,
        *,
        save_base: bool | None = None,
        authors_compatible: bool | None = None,
        state_dict: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Writes ``zip2zip_config.json``, ``zip2zip_encoders.safetensors``, the PEFT adapter
        and, when ``save_base`` (default: when the base model has no local directory or hub
        name to point to), the base model's weights; safetensors only.

        ``authors_compatible``: ``True`` raises ``ModelMismatchError`` naming every reason the
        authors' runtime could not load the checkpoint unedited; ``None`` (default) warns
        (``AuthorsFormatWarning``) with those reasons only for a model loaded from their
        checkpoint (``authors_origin``); ``False`` never checks.

        ``state_dict``: this model's whole state dict, written instead of its live weights (the
        weights a sharded model, FSDP's, gathers on the process that saves)."""
        save_checkpoint(
            self,
            path,
            save_base=save_base,
            authors_compatible=authors_compatible,
            state_dict=state_dict,
        )

    def activation_checkpointing_enable(
        self,
        activation_checkpointing_kwargs: dict[str, Any] | None = None,
        every_n_layers: int = 1,
        offload: bool = False,
    ) -> None:
        """Recomputes the base model's layer activations in the backward pass (what transformers'
        ``Trainer(gradient_checkpointing=True)`` asks, with the arguments of its version);
        non-reentrant by default, so frozen embeddings under a LoRA adapter need no
        ``enable_input_require_grads``."""
        kwargs = {"use_reentrant": False, **(activation_checkpointing_kwargs or {})}
        if hasattr(self.base_model, "activation_checkpointing_enable"):  # transformers >= 5.x
            self.base_model.activation_checkpointing_enable(
                activation_checkpointing_kwargs=kwargs,
                every_n_layers=every_n_layers,
                offload=offload,
            )
            return
        if every_n_layers != 1 or offload:
            raise ModelMismatchError(
                "every_n_layers and offload need a transformers version with "
                "activation_checkpointing_enable"
            )
        self.base_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    def gradient_checkpointing_enable(
        self, gradient_checkpointing_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """The older name of ``activation_checkpointing_enable``."""
        self.activation_checkpointing_enable(gradient_checkpointing_kwargs, **kwargs)

    def activation_checkpointing_disable(self) -> None:
        if hasattr(self.base_model, "activation_checkpointing_disable"):
            self.base_model.activation_checkpointing_disable()
        else:
            self.base_model.gradient_checkpointing_disable()

    def gradient_checkpointing_disable(self) -> None:
        """The older name of ``activation_checkpointing_disable``."""
        self.activation_checkpointing_disable()

    # ---------------------------------------------------------------------------------- helpers
    @property
    def initial_vocab_size(self) -> int:
        """``V``: base ids are below it."""
        return self.compression.initial_vocab_size

    @property
    def vocab_size(self) -> int:
        """``V + C``: the ids the model reads and predicts (the logits' last dimension), as
        ``Zip2ZipTokenizer.vocab_size``."""
        return self.compression.total_vocab_size

    @property
    def _no_split_modules(self) -> list[str] | None:
        """The base model's layer classes: what FSDP's default wrapping policy (accelerate's,
        transformers') shards as units when no ``transformer_layer_cls_to_wrap`` is given."""
        plain = self.base_model.get_base_model() if is_peft(self.base_model) else self.base_model
        names = getattr(plain, "_no_split_modules", None)
        return None if names is None else list(names)

    @property
    def max_codebook_size(self) -> int:
        return self.compression.max_codebook_size

    @property
    def total_vocab_size(self) -> int:
        return self.compression.total_vocab_size

    @property
    def device(self) -> torch.device:
        device: torch.device = self.base_model.get_input_embeddings().weight.device
        return device

    @property
    def dtype(self) -> torch.dtype:
        dtype: torch.dtype = self.base_model.get_input_embeddings().weight.dtype
        return dtype

    def new_state(self, batch_size: int) -> HyperState:
        """Empty codebooks for a batch (one per row)."""
        return HyperState(
            self.compression,
            batch_size,
            self.input_encoder,
            self.output_encoder,
            *self._embedding_tables(),
        )

    def _check_state(self, state: Any) -> None:
        if not isinstance(state, HyperState):
            raise TypeError(f"state must be a HyperState, got {type(state).__name__}")
        if not state.made_by(self.input_encoder, self.output_encoder):
            raise ModelMismatchError(
                "state was made by another model's new_state: its entries would be embedded "
                "with that model's encoders"
            )

    def _embedding_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The base model's input and output embedding tables, whole: the encoders read their
        rows outside those modules' own forward calls, so a table FSDP holds sharded there is
        refused (``ModelMismatchError``) rather than read as a shard."""
        tables = []
        for side, module in [
            ("input", self.base_model.get_input_embeddings()),
            ("output", self.base_model.get_output_embeddings()),
        ]:
            weight: torch.Tensor = module.weight
            if is_sharded(weight):
                raise ModelMismatchError(
                    f"the base model's {side} embeddings ({type(module).__name__}) are sharded by "
                    "FSDP here; the hyper-encoders read their rows outside that module's forward. "
                    "Keep both embedding tables in the root FSDP unit (wrap only the decoder "
                    "layers: transformer_layer_cls_to_wrap or the default policy, not a size-"
                    "based one), and call generate through the wrapped model"
                )
            tables.append(weight)
        return tables[0], tables[1]

    def next_columns(self, logits_to_keep: int = 0) -> int | None:
        """How many of the last columns of an update need the about-to-be-created entry's
        vector (``HyperState.update``'s ``next_columns``): none when that slot is masked."""
        if self.kwkwk_slot == "masked":
            return 0
        return logits_to_keep or None

    def embed(
        self, ids: torch.Tensor, state: HyperState, read_vectors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Input vectors of ``ids`` (already fed to ``state``); ``read_vectors``: those of the
        hypertokens, when the update that fed them says (``StepView.read_vectors``)."""
        vocab = self.initial_vocab_size
        embeddings = self.base_model.get_input_embeddings()
        base: torch.Tensor = embeddings(ids.masked_fill(ids >= vocab, 0))
        if self.max_codebook_size == 0:
            return base
        if read_vectors is not None:
            return torch.where((ids >= vocab)[..., None], read_vectors.to(base.dtype), base)
        is_hyper, hyper = state.hyper_inputs(ids)
        return torch.where(is_hyper[..., None], hyper.to(base.dtype), base)

    # ---------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        *,
        position_ids: torch.Tensor | None = None,
        state: HyperState | None = None,
        past_key_values: Any = None,
        use_cache: bool = False,
        logits_to_keep: int = 0,
        return_logits: bool = True,
        uncompressed: torch.Tensor | None = None,
        **_: Any,
    ) -> Zip2ZipOutput:
        """One forward over ``input_ids`` (``[B, T]``, base ids and hypertokens).

        ``attention_mask`` covers the cached positions too (``[B, past + T]``), as in
        transformers. Without ``state`` the codebooks start empty (a whole sequence: training,
        scoring); with it they continue (generation). ``labels`` (``[B, T]``, -100 ignored) are
        shifted inside, as in transformers' causal LMs. With labels and ``return_logits=False``
        (what training uses) the ``[B, T, V + C]`` logits are never built: the loss is scored
        from the hidden states a chunk at a time. ``uncompressed`` (``[B]`` bools; a whole
        sequence only, no ``state``) marks rows of base ids read as a model with
        ``max_codebook_size=0`` reads them: their ids create no entry, and no hypertoken is
        scored after them (its logit is ``-inf``), so their loss is that model's (the
        uncompressed replay of training, ``docs/training.md``). Other keyword arguments (a
        trainer's ``num_items_in_batch``) are ignored.
        """
        check_ids(input_ids, attention_mask)
        check_count("logits_to_keep", logits_to_keep)
        if labels is not None:
            check_labels_shape(labels, input_ids)
        if position_ids is not None:
            check_positions(position_ids, input_ids)
        if state is not None:
            self._check_state(state)
        if uncompressed is not None:
            if state is not None:
                raise InvalidArgumentError(
                    "uncompressed marks rows of a whole sequence; it can not continue a state"
                )
            check_uncompressed(uncompressed, input_ids, labels, self.initial_vocab_size)
        state = state or self.new_state(input_ids.shape[0])
        cached = 0 if past_key_values is None else past_key_values.get_seq_length()
        if cached != state.columns:
            raise InvalidArgumentError(
                f"the state has read {state.columns} columns but past_key_values holds {cached}: "
                "pass the cache of the calls that fed this state, or neither"
            )
        current_mask = None if attention_mask is None else attention_mask[:, -input_ids.shape[1] :]
        # The ids that feed the codebooks: an uncompressed row feeds none, so it never has an
        # entry to read or score.
        fed_mask = current_mask
        if uncompressed is not None and bool(uncompressed.any()):
            compressed = ~uncompressed.to(device=input_ids.device, dtype=torch.bool)
            fed_mask = compressed[:, None].expand_as(input_ids).long()
            if current_mask is not None:
                fed_mask = fed_mask * current_mask.long()
        with state.exclusive():
            view = state.update(input_ids, fed_mask, next_columns=self.next_columns(logits_to_keep))
            return self._forward_fed(
                input_ids,
                attention_mask,
                labels,
                position_ids=position_ids,
                state=state,
                view=view,
                past_key_values=past_key_values,
                use_cache=use_cache,
                logits_to_keep=logits_to_keep,
                return_logits=return_logits,
            )

    def _forward_fed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor | None,
        *,
        position_ids: torch.Tensor | None,
        state: HyperState,
        view: StepView,
        past_key_values: Any,
        use_cache: bool,
        logits_to_keep: int,
        return_logits: bool = True,
    ) -> Zip2ZipOutput:
        """``forward`` for ids already fed to ``state`` (``view`` is what that returned)."""
        if self.kwkwk_slot == "masked":
            view = view.without_next()
        current_mask = None if attention_mask is None else attention_mask[:, -input_ids.shape[1] :]
        if (
            attention_mask is None
            and (past_key_values is None or past_key_values.get_seq_length() == 0)
            and self.position_mode != "sequential"
        ):
            # An explicit mask: without one (and without cached positions), transformers reads
            # jumps in position ids (base-token positions) as boundaries of packed sequences.
            attention_mask = torch.ones(
                (input_ids.shape[0], state.columns), dtype=torch.long, device=input_ids.device
            )
        if labels is not None:
            check_labels(labels, self.total_vocab_size)
        skip_head = labels is not None and not return_logits and self._head_is_separable()
        inputs_embeds = self.embed(input_ids, state, view.read_vectors)
        if position_ids is None:
            position_ids = state.positions(
                input_ids, current_mask, self.position_mode, view.read_spans
            )
        hidden, base_logits, past = self._run_base(
            inputs_embeds,
            attention_mask,
            position_ids,
            past_key_values,
            use_cache,
            logits_to_keep,
            skip_head=skip_head,
        )
        logits = None
        if not skip_head:
            logits = extended_logits(
                base_logits, hidden, state.outputs.values, view, self.max_codebook_size
            )
        out = Zip2ZipOutput(
            logits=logits if return_logits or labels is None else None, cache=past, state=state
        )
        if labels is None:
            return out
        sums = self._loss_sums(hidden, logits, state, view, labels)
        out.loss = sums.mean
        out.loss_sum = sums.loss_sum
        out.num_targets = sums.num_targets
        out.loss_stats = sums.stats
        if self.token_type_head is not None:
            type_logits = self.token_type_head(hidden).squeeze(-1)
            out.token_type_loss, out.token_type_correct = token_type_loss(
                type_logits, labels, self.initial_vocab_size
            )
        return out

    def _head_is_separable(self) -> bool:
        """Whether the base model's logits are exactly ``output_embeddings(hidden)``, so the
        loss may call the head itself on chunks of hidden states."""
        config = getattr(self.base_model, "config", None)
        return not any(getattr(config, name, None) for name in _LOGIT_TRANSFORMS)

    def _loss_sums(
        self,
        hidden: torch.Tensor,
        logits: torch.Tensor | None,
        state: HyperState,
        view: StepView,
        labels: torch.Tensor,
    ) -> LossSums:
        chunk = self.loss_chunk_positions
        # A masked KwKwK slot cannot be a target (generation could never write it there).
        drop = self.kwkwk_slot == "masked"
        if logits is not None:
            return chunked_logits_loss(
                logits, labels, self.initial_vocab_size, chunk, drop_unscorable=drop
            )
        head = self.base_model.get_output_embeddings()
        # The fused loss scores one table per row: not slots that change entries on the way.
        fused = (
            self.fused_loss
            and not view.recycles
            and fusable_head(head)
            and view.sizes.shape[1] == hidden.shape[1]
        )
        loss = fused_hidden_loss if fused else chunked_hidden_loss
        return loss(
            hidden,
            head,
            state.outputs.values,
            view,
            self.max_codebook_size,
            labels,
            self.initial_vocab_size,
            chunk,
            drop_unscorable=drop,
        )

    def _run_base(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        past_key_values: Any,
        use_cache: bool,
        logits_to_keep: int,
        *,
        skip_head: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """The base model's last hidden states, logits and cache. With ``skip_head`` the output
        embeddings are not applied (the logits returned are a zero-stride placeholder): the
        caller scores chunks of the hidden states itself."""
        captured: list[torch.Tensor] = []
        head = self.base_model.get_output_embeddings()

        def capture(_module: nn.Module, args: tuple[Any, ...], _output: Any) -> None:
            captured.append(args[0])

        def bypass(hidden: torch.Tensor) -> torch.Tensor:
            captured.append(hidden)
            return hidden.new_zeros(()).expand(*hidden.shape[:-1], self.initial_vocab_size)

        kwargs: dict[str, Any] = {}
        if logits_to_keep and self._takes_logits_to_keep:
            kwargs["logits_to_keep"] = logits_to_keep
        # Without a codebook or token-type head the hidden states are not needed: no hook.
        handle = None
        # An accelerate hook may already sit on the instance's forward: put back what was there.
        previous = head.__dict__.get("forward")
        if skip_head:
            head.forward = bypass
        elif self.max_codebook_size or self.token_type_head is not None:
            handle = head.register_forward_hook(capture)
        try:
            if past_key_values is not None:
                kwargs[self._cache_argument] = past_key_values
            out = self.base_model(
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=use_cache,
                **kwargs,
            )
        finally:
            if handle is not None:
                handle.remove()
            if skip_head:
                if previous is None:
                    del head.forward
                else:
                    head.forward = previous
        logits = out.logits
        hidden = captured[-1] if captured else logits
        if logits_to_keep:
            hidden, logits = hidden[:, -logits_to_keep:], logits[:, -logits_to_keep:]
        past = out.get(self._cache_argument)
        return hidden, logits, past

    # ------------------------------------------------------------------------------- generation
    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        generation_config: Any = None,
        *,
        tokenizer: Any = None,
        streamer: TextStreamer | None = None,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> torch.Tensor | GenerateOutput:
        """Greedy or sampled generation with the KV cache; ``options`` are transformers' names
        (see ``zip2zip_tokenizers.torch.generation.generate``)."""
        from zip2zip_tokenizers.torch.generation import generate

        return generate(
            self,
            input_ids,
            attention_mask,
            generation_config,
            tokenizer=tokenizer,
            streamer=streamer,
            generator=generator,
            **options,
        )


def is_sharded(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a ``DTensor``: a shard of a parameter FSDP2 gathers only for its
    module's forward call."""
    if not torch.distributed.is_available():
        return False
    from torch.distributed.tensor import DTensor

    return isinstance(tensor, DTensor)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-id cross-entropy over the extended vocabulary; -100 labels are ignored. Scored
    a chunk at a time, so it never holds an fp32 copy of all the logits."""
    vocab = logits.shape[-1]
    return chunked_logits_loss(logits, labels, vocab).mean
