"""``Zip2ZipTrainer``: transformers' ``Trainer`` for a ``Zip2ZipForCausalLM``.

What it changes, and nothing else (DDP/FSDP, accumulation, mixed precision, callbacks and loggers
are the Trainer's own; whole saves and safe resumes are ``ResumableTrainer``'s, ``resumable.py``):

- the loss: summed next-id cross-entropy over ``V + C`` (scored from hidden states a chunk at a
  time) plus ``token_type_loss_weight`` x the token-type loss, divided by the number of targets
  of the whole accumulated, all-process batch, so 2 processes equal 1 with the same global batch;
- a NaN or infinite loss raises ``NonFiniteLossError`` before the backward pass and before any
  save, on every process at once;
- the training windows, when ``segmentation_sampling`` or ``uncompressed_share`` asks for other
  views of some of them (``window_views.py``);
- two parameter groups' learning rates (encoders + token-type head, the rest), and with
  ``encoder_warmup_steps`` the first group's own warm-up;
- logs: the loss and top-1 accuracy split over base-id and hypertoken targets, the hypertoken
  share of targets and of the model's own top-1 ids, the gradient norm of each part of the model
  before clipping, compression (base tokens per id), ids and base tokens per second, every
  learning rate (``docs/training.md``, "What is logged");
- checkpoints in the model's own format (``save_pretrained``) with the run's record, loaded
  back on resume; a resumed run logs and saves at the intervals it is given now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from transformers.optimization import get_scheduler
from transformers.trainer_utils import IntervalStrategy

from zip2zip_tokenizers.torch.loss import LOSS_STATS
from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM, Zip2ZipOutput
from zip2zip_tokenizers.torch.training.arguments import (
    Zip2ZipTrainingArguments,
    effective_encoder_learning_rate,
)
from zip2zip_tokenizers.torch.training.checkpoints import load_training_model, save_training_model
from zip2zip_tokenizers.torch.training.collator import Zip2ZipCollator
from zip2zip_tokenizers.torch.training.errors import NonFiniteLossError, TrainingError
from zip2zip_tokenizers.torch.training.fsdp import (
    FSDP_MODEL_NAME,
    fsdp_checkpoint,
    require_full_state_dict,
    warn_fsdp_not_applied,
)
from zip2zip_tokenizers.torch.training.grad_norms import group_grad_norms, parameter_group
from zip2zip_tokenizers.torch.training.resumable import ResumableTrainer
from zip2zip_tokenizers.torch.training.run_record import RunRecord, write_run_record
from zip2zip_tokenizers.torch.training.window_views import ViewSettings, WindowViews

# Running sums between two logs: the loss's (loss, targets and top-1 hits by target kind, top-1
# hypertokens), the token-type loss and its correct predictions, ids read, base tokens they cover.
STATS = (*LOSS_STATS, "token_type_loss", "token_type_correct", "ids", "base_tokens")
# Parameter groups at ``encoder_learning_rate``.
_ENCODER_GROUPS = ("encoders", "token_type_head")


class Zip2ZipTrainer(ResumableTrainer):
    """A ``transformers.Trainer`` for ``Zip2ZipForCausalLM`` (see the module doc). Takes the
    Trainer's arguments; ``data_collator`` defaults to ``Zip2ZipCollator``, and a training
    dataset with a ``check_codec`` method (every dataset of this package) is checked against the
    model's codec settings first."""

    def __init__(self, model: Zip2ZipForCausalLM, args: Any = None, **kwargs: Any) -> None:
        if not isinstance(model, Zip2ZipForCausalLM):
            raise TypeError(f"Zip2ZipTrainer trains a Zip2ZipForCausalLM, got {type(model)}")
        kwargs.setdefault("data_collator", Zip2ZipCollator(model.compression))
        dataset = kwargs.get("train_dataset")
        if dataset is not None and hasattr(dataset, "check_codec"):
            dataset.check_codec(model.compression)
        views = ViewSettings.from_args(args)
        if dataset is not None and views.active:
            kwargs["train_dataset"] = WindowViews(dataset, model.compression, views)
        weight = float(getattr(args, "token_type_loss_weight", 0.0))
        if weight and model.token_type_head is None:
            raise TrainingError(
                "token_type_loss_weight > 0 needs a model built with token_type_head=True "
                "(or set token_type_loss_weight=0)"
            )
        super().__init__(model=model, args=args, **kwargs)
        # What ``train`` recorded of this run; a copy goes into every checkpoint.
        self.run_record: RunRecord | None = None
        # Our loss is a sum divided by the targets of the whole accumulated, all-process batch
        # (``num_items_in_batch``), counted over the shifted labels.
        self.model_accepts_loss_kwargs = True
        self.loss_is_scaled_for_ga = True
        self._loss_shifts_labels = True
        self._stats = torch.zeros(len(STATS), dtype=torch.float64)
        self._since = time.perf_counter()
        self._rates: dict[str, float] = {}
        # The global step whose gradients they are, and each group's norm before clipping.
        self._grad_norms: tuple[int, dict[str, torch.Tensor]] = (-1, {})
        if self.is_fsdp_enabled:
            require_full_state_dict(self.accelerator.state.fsdp_plugin)
        elif getattr(self.args, "fsdp", None) and not getattr(self, "is_fsdp_xla_enabled", False):
            warn_fsdp_not_applied(self.accelerator)

    # ------------------------------------------------------------------------------ optimiser
    def _token_type_weight(self) -> float:
        return float(getattr(self.args, "token_type_loss_weight", 0.0))

    def create_optimizer(self, model: nn.Module | None = None) -> Any:
        """AdamW (the Trainer's choice of class) over two groups: the encoders and token-type
        head at ``encoder_learning_rate``, everything else trainable at ``learning_rate``;
        weight decay on matrices only, as the Trainer does."""
        if self.optimizer is not None:
            return self.optimizer
        target: Any = model if model is not None else self.model
        decay = set(self.get_decay_parameter_names(target))
        lr = self.args.learning_rate
        encoder_lr = effective_encoder_learning_rate(self.args)
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        seen: set[int] = set()
        for name, param in target.named_parameters():
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            key = (parameter_group(name) in _ENCODER_GROUPS, name in decay)
            groups.setdefault(key, []).append(param)
        param_groups = [
            {
                "params": params,
                "lr": encoder_lr if encoder else lr,
                "weight_decay": self.args.weight_decay if decays else 0.0,
                "name": ("encoders" if encoder else "model") + ("" if decays else "_no_decay"),
            }
            for (encoder, decays), params in sorted(groups.items())
        ]
        if not param_groups:
            raise TrainingError("the model has no trainable parameter")
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, target)
        optimizer_kwargs.pop("lr", None)
        self.optimizer = optimizer_cls(param_groups, lr=lr, **optimizer_kwargs)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        """The Trainer's schedule, unless ``encoder_warmup_steps`` is set: then one factor per
        parameter group (a ``LambdaLR``), the encoder groups' from the same schedule type with
        their own warm-up."""
        warmup = getattr(self.args, "encoder_warmup_steps", None)
        if self.lr_scheduler is not None or warmup is None:
            return super().create_scheduler(num_training_steps, optimizer)
        optimizer = optimizer if optimizer is not None else self.optimizer
        default = self._schedule_factor(
            self.args.get_warmup_steps(num_training_steps), num_training_steps
        )
        encoder = self._schedule_factor(warmup, num_training_steps)
        if warmup and encoder(0) != 0:
            raise TrainingError(
                f"encoder_warmup_steps={warmup}: lr_scheduler_type {self._schedule_name()!r} has "
                "no warm-up to set"
            )
        factors = [
            encoder if str(group.get("name", "")).startswith("encoders") else default
            for group in optimizer.param_groups
        ]
        self.lr_scheduler = LambdaLR(optimizer, factors)
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def _schedule_factor(self, warmup: int, num_training_steps: int) -> Callable[[int], float]:
        """The learning-rate factor of step ``n`` under the run's schedule type with ``warmup``
        warm-up steps (built on a stand-in optimiser: ``get_scheduler`` wants one)."""
        stand_in = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        # A dict by now: TrainingArguments parses one given as JSON text.
        kwargs = cast(dict[str, Any] | None, self.args.lr_scheduler_kwargs)
        schedule = get_scheduler(
            self.args.lr_scheduler_type,
            optimizer=stand_in,
            num_warmup_steps=warmup,
            num_training_steps=num_training_steps,
            scheduler_specific_kwargs=kwargs,
        )
        if not isinstance(schedule, LambdaLR):
            raise TrainingError(
                f"encoder_warmup_steps needs a schedule of learning-rate factors; "
                f"lr_scheduler_type {self._schedule_name()!r} is a {type(schedule).__name__}"
            )
        factor: Callable[[int], float] = schedule.lr_lambdas[0]
        return factor

    def _schedule_name(self) -> str:
        kind = self.args.lr_scheduler_type  # a SchedulerType once TrainingArguments has run
        return str(getattr(kind, "value", kind))

    # ----------------------------------------------------------------------------------- loss
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        inputs = dict(inputs)
        base_tokens = inputs.pop("num_base_tokens", None)
        outputs: Zip2ZipOutput = model(**inputs, return_logits=False)
        if outputs.loss_sum is None or outputs.num_targets is None:
            raise TrainingError("the batch has no labels")
        total = outputs.loss_sum
        weight = self._token_type_weight()
        if weight and outputs.token_type_loss is not None:
            total = total + weight * outputs.token_type_loss
        if num_items_in_batch is None:
            loss = total / outputs.num_targets.clamp(min=1)
        else:
            # The Trainer divides nothing more; DDP averages gradients over processes.
            loss = total / num_items_in_batch * self.accelerator.num_processes
        if model.training:
            self._check_finite(loss)
            self._accumulate(outputs, inputs, base_tokens)
        return (loss, outputs) if return_outputs else loss

    def training_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        # The learning rates this step uses (the scheduler moves them after the step).
        if self.optimizer is not None:
            self._rates = {
                f"learning_rate_{group.get('name', index)}": float(group["lr"])
                for index, group in enumerate(self.optimizer.param_groups)
                if not str(group.get("name", "")).endswith("_no_decay")
            }
        loss = super().training_step(model, inputs, num_items_in_batch)
        step = self.state.global_step + 1
        if self.accelerator.sync_gradients and self._logs_at(step):
            # The last backward of the step: the gradients are whole (DDP has reduced them) and
            # not yet clipped.
            self._grad_norms = (step, self._group_grad_norms())
        return loss

    def _logs_at(self, step: int) -> bool:
        """Whether the Trainer logs after optimiser step ``step`` (its ``DefaultFlowCallback``'s
        rule; with logging by epoch, every step may be the last of one)."""
        args = self.args
        if args.logging_strategy == IntervalStrategy.NO:
            return False
        if args.logging_strategy != IntervalStrategy.STEPS:
            return True
        return (args.logging_first_step and step == 1) or step % self.state.logging_steps == 0

    def _group_grad_norms(self) -> dict[str, torch.Tensor]:
        model = self.accelerator.unwrap_model(self.model)
        scaler = getattr(self.accelerator, "scaler", None)
        # fp16: the gradients are still multiplied by the loss scale (unscaled when clipped).
        scale = float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0
        sharded = self.is_fsdp_enabled and self._fsdp_version() == 1
        reduce = (lambda t: self.accelerator.reduce(t, reduction="sum")) if sharded else None
        return group_grad_norms(model, all_reduce=reduce, scale=scale)

    def _fsdp_version(self) -> int:
        plugin = getattr(self.accelerator.state, "fsdp_plugin", None)
        return int(getattr(plugin, "fsdp_version", 1) or 1)

    def _check_finite(self, loss: torch.Tensor) -> None:
        finite = torch.isfinite(loss.detach()).to(torch.float32).reshape(1)
        if self.accelerator.num_processes > 1:
            finite = self.accelerator.gather(finite)
        if not bool(finite.min() > 0):
            raise NonFiniteLossError(
                f"the loss is {loss.item()} at step {self.state.global_step + 1} (on "
                f"{int((finite == 0).sum())} of {finite.numel()} processes); training stopped "
                "before the optimiser step, so the last checkpoint written is the last good one. "
                "Lower the learning rate, clip gradients harder, or train in fp32/bf16 (not fp16)."
            )

    def _accumulate(
        self,
        outputs: Zip2ZipOutput,
        inputs: dict[str, Any],
        base_tokens: torch.Tensor | None,
    ) -> None:
        assert outputs.loss_stats is not None
        mask = inputs.get("attention_mask")
        ids = inputs["input_ids"].numel() if mask is None else int(mask.sum())
        parts = [
            outputs.loss_stats.detach().double().cpu(),
            torch.tensor(
                [
                    float(outputs.token_type_loss.detach())
                    if outputs.token_type_loss is not None
                    else 0.0,
                    float(outputs.token_type_correct)
                    if outputs.token_type_correct is not None
                    else 0.0,
                    float(ids),
                    float(base_tokens.sum()) if base_tokens is not None else float("nan"),
                ],
                dtype=torch.float64,
            ),
        ]
        self._stats += torch.cat(parts)

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Evaluation scores the loss only (the logits over ``V + C`` are never kept)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        assert isinstance(loss, torch.Tensor)
        return loss.detach(), None, None

    # -------------------------------------------------------------------------------- logging
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Adds the zip2zip metrics gathered since the last log (summed over processes)."""
        if "loss" in logs:
            logs.update(self._metrics())
            step, norms = self._grad_norms
            if step == self.state.global_step:
                logs.update({f"grad_norm_{name}": float(norm) for name, norm in norms.items()})
        super().log(logs, start_time)

    def _metrics(self) -> dict[str, float]:
        stats = self._stats.to(self.args.device)
        if self.accelerator.num_processes > 1:
            stats = self.accelerator.reduce(stats, reduction="sum")
        sums = dict(zip(STATS, stats.tolist(), strict=True))
        base_sum, base_n = sums["base_loss"], sums["base_targets"]
        hyper_sum, hyper_n = sums["hyper_loss"], sums["hyper_targets"]
        ids, base = sums["ids"], sums["base_tokens"]
        now = time.perf_counter()
        elapsed = max(now - self._since, 1e-9)
        self._since = now
        self._stats.zero_()
        targets = base_n + hyper_n
        # A mean over no target is not logged (a window without hypertokens has no hypertoken
        # loss; its share says so): loggers then plot no NaN.
        means = {
            "loss_base_targets": (base_sum, base_n),
            "loss_hyper_targets": (hyper_sum, hyper_n),
            "lm_loss": (base_sum + hyper_sum, targets),
            "accuracy_base_targets": (sums["base_correct"], base_n),
            "accuracy_hyper_targets": (sums["hyper_correct"], hyper_n),
            "hyper_prediction_share": (sums["hyper_predicted"], targets),
        }
        metrics = {name: total / count for name, (total, count) in means.items() if count}
        metrics["hyper_target_share"] = hyper_n / targets if targets else 0.0
        metrics["ids_per_second"] = ids / elapsed
        if base == base:  # not NaN: every batch said how many base tokens it covers
            if ids:
                metrics["compression"] = base / ids
            metrics["base_tokens_per_second"] = base / elapsed
        if self._token_type_weight() and targets:
            metrics["token_type_loss"] = sums["token_type_loss"] / targets
            metrics["token_type_accuracy"] = sums["token_type_correct"] / targets
        metrics.update(self._rates)
        return metrics

    # ---------------------------------------------------------------------------- checkpoints
    def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
        """The model's own checkpoint, written by the saving process only; ``state_dict`` is the
        whole model's when the Trainer gathered it (FSDP: its shards, on that process)."""
        import os

        from transformers.trainer import TRAINING_ARGS_NAME

        if not self.args.should_save:
            return
        directory = str(output_dir or self.args.output_dir)
        os.makedirs(directory, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model)
        save_training_model(model, directory, self.processing_class, state_dict)
        if self.run_record is not None:
            write_run_record(directory, self.run_record)
        torch.save(self.args, os.path.join(directory, TRAINING_ARGS_NAME))

    def _init_training_state(self, max_steps: int, *args: Any, **kwargs: Any) -> Any:
        """The Trainer's, then this run's logging, evaluation and saving intervals: a resumed
        state would otherwise keep the checkpoint's (a rerun may change them)."""
        result = super()._init_training_state(max_steps, *args, **kwargs)
        self.state.compute_steps(self.args, max_steps)  # type: ignore[no-untyped-call]
        return result

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        if self.is_fsdp_enabled:
            # Sharded weights load through the Trainer's own FSDP checkpoint (written beside ours
            # with the optimiser state), which accelerate scatters back into the shards.
            if not fsdp_checkpoint(resume_from_checkpoint):
                raise TrainingError(
                    f"{resume_from_checkpoint} holds no FSDP model state ({FSDP_MODEL_NAME}*), "
                    "which resuming under FSDP reads; it was saved with save_only_model=True "
                    "or without FSDP"
                )
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            return
        target = self.accelerator.unwrap_model(model if model is not None else self.model)
        load_training_model(target, resume_from_checkpoint)


def default_args(output_dir: str, **overrides: Any) -> Zip2ZipTrainingArguments:
    """The recipe's arguments for ``output_dir``, with ``overrides``."""
    return Zip2ZipTrainingArguments(output_dir=output_dir, **overrides)
