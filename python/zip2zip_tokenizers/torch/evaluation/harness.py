"""The ``zip2zip`` model of lm-evaluation-harness (``pip install "zip2zip-tokenizers[eval]"``).

Importing this module registers it in lm-eval's model registry; lm-eval 0.4 has no plugin
discovery, so run its command line through ours, which imports this first::

    zip2zip-tokenizers lm-eval --model zip2zip --model_args pretrained=CKPT --tasks ...

or, from Python, ``import zip2zip_tokenizers.torch.evaluation.harness`` then
``lm_eval.simple_evaluate(model="zip2zip", model_args="pretrained=CKPT", ...)``.

- ``loglikelihood``: the continuation's log-probability given the context. The context is
  encoded canonically; no id straddles the boundary (the continuation starts a new piece and
  continues with the longest valid pieces, canonical LZW when the context is empty). Scored
  ``strict`` by default, ``multi_view=first`` or ``multi_view=exact`` marginalises each
  continuation id's span (see ``docs/evaluation.md``).
- ``loglikelihood_rolling``: rolling windows of ``max_length`` base tokens, each with its own
  codebook (the byte perplexity of ``zip2zip-tokenizers eval``), under the same metric.
- ``generate_until``: stop strings (``until``) and ``max_gen_toks``, counted in generated ids
  (model steps) by default, or in base tokens with ``max_gen_unit=base_tokens``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from zip2zip_tokenizers._core import Lattice
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer
from zip2zip_tokenizers.torch.encoders import HyperEncoderConfig
from zip2zip_tokenizers.torch.evaluation.errors import EvaluationError
from zip2zip_tokenizers.torch.evaluation.loading import check_codec, load_for_eval
from zip2zip_tokenizers.torch.evaluation.scorer import METRICS, score_segmentation
from zip2zip_tokenizers.torch.evaluation.segments import canonical, canonical_with_break
from zip2zip_tokenizers.torch.evaluation.windows import (
    prefix_token_id,
    rolling_windows,
    tokenize,
)
from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM

GEN_UNITS = ("ids", "base_tokens")


def _count(name: str, value: int | str) -> int:
    """A model argument as a non-negative integer (lm-eval passes ``--model_args`` as text)."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise EvaluationError(f"{name} must be an integer, got {value!r}") from None
    if count < 0:
        raise EvaluationError(f"{name} must be >= 0, got {count}")
    return count


def _progress(items: list[Any], disable: bool, desc: str) -> Any:
    if disable:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc)


@register_model("zip2zip")
class Zip2ZipLM(LM):  # type: ignore[misc]
    """lm-eval's view of a :class:`Zip2ZipForCausalLM` (see the module doc).

    ``pretrained``: a checkpoint or base model directory (as ``zip2zip-tokenizers eval
    --model``), or a loaded model with ``tokenizer`` a ``Zip2ZipTokenizer``.
    """

    def __init__(
        self,
        pretrained: str | Path | Zip2ZipForCausalLM,
        tokenizer: str | Path | Zip2ZipTokenizer | None = None,
        multi_view: str = "strict",
        max_length: int = 1024,
        max_gen_toks: int = 256,
        max_gen_unit: str = "ids",
        max_codebook_size: int | str | None = None,
        max_subtokens: int | str | None = None,
        encoder: str = "mean",
        dtype: str = "float32",
        device: str | None = None,
        batch_size: int | str = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if multi_view not in METRICS:
            raise EvaluationError(f"multi_view must be one of {list(METRICS)}, got {multi_view!r}")
        if max_gen_unit not in GEN_UNITS:
            raise EvaluationError(f"max_gen_unit must be one of {list(GEN_UNITS)}")
        max_length, max_gen_toks = (
            _count("max_length", max_length),
            _count("max_gen_toks", max_gen_toks),
        )
        if max_length < 2:
            raise EvaluationError(f"max_length must be at least 2 base tokens, got {max_length}")
        torch_dtype = getattr(torch, dtype, None) if isinstance(dtype, str) else None
        if not isinstance(torch_dtype, torch.dtype):
            raise EvaluationError(
                f"dtype must name a torch dtype (float32, bfloat16...), got {dtype!r}"
            )
        if isinstance(pretrained, Zip2ZipForCausalLM):
            if not isinstance(tokenizer, Zip2ZipTokenizer):
                raise EvaluationError("a loaded model needs tokenizer= a Zip2ZipTokenizer")
            check_codec(pretrained.compression, tokenizer.config)
            self.model, self.tokenizer = pretrained.eval(), tokenizer
        else:
            self.model, self.tokenizer = load_for_eval(
                pretrained,
                tokenizer_dir=None if tokenizer is None else Path(str(tokenizer)),
                max_codebook_size=(
                    None
                    if max_codebook_size is None
                    else _count("max_codebook_size", max_codebook_size)
                ),
                max_subtokens=(
                    None if max_subtokens is None else _count("max_subtokens", max_subtokens)
                ),
                encoder=HyperEncoderConfig(kind=encoder),  # type: ignore[arg-type]
                dtype=torch_dtype,
                device=device or ("cuda" if torch.cuda.is_available() else "cpu"),
            )
        self.metric = multi_view
        self.max_length = max_length
        self.max_gen_toks = max_gen_toks
        self.max_gen_unit = max_gen_unit
        self.base_tokenizer = self.tokenizer.base_tokenizer
        self.prefix = prefix_token_id(self.base_tokenizer, self.model.compression)

    # ------------------------------------------------------------------------------ helpers
    def _ids(self, text: str) -> list[int]:
        ids: list[int] = self.base_tokenizer.encode(text, add_special_tokens=False)
        return ids

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """As lm-eval's HF model: trailing spaces of the context move to the continuation,
        and the continuation's ids are those of the whole text after the context's."""
        spaces = len(context) - len(context.rstrip())
        if spaces:
            continuation = context[-spaces:] + continuation
            context = context[:-spaces]
        whole = self._ids(context + continuation)
        context_ids = self._ids(context)
        return context_ids, whole[len(context_ids) :]

    def _continuation_logprob(
        self, context_ids: list[int], continuation_ids: list[int]
    ) -> tuple[float, bool]:
        if not continuation_ids:
            raise EvaluationError("an empty continuation has no log-likelihood")
        if not context_ids:
            context_ids = [self.prefix]
        base = np.asarray(context_ids + continuation_ids, dtype=np.int64)
        boundary = len(context_ids)
        # Too long: drop base tokens from the left, as lm-eval's HF model does.
        cut = max(0, len(base) - (self.max_length + 1))
        base, boundary = base[cut:], max(1, boundary - cut)
        config = self.model.compression
        segmentation = canonical_with_break(config, base, Lattice(config, base), boundary)
        first_target = int(np.searchsorted(segmentation.starts, boundary))
        scores = score_segmentation(
            self.model, segmentation, first_target, (self.metric,), greedy=True
        )
        assert scores.greedy is not None
        return float(scores.logprobs[self.metric].astype(np.float64).sum()), bool(
            scores.greedy.all()
        )

    # ---------------------------------------------------------------------------- requests
    def loglikelihood(
        self, requests: list[Any], disable_tqdm: bool = False
    ) -> list[tuple[float, bool]]:
        out = []
        for request in _progress(requests, disable_tqdm, "loglikelihood"):
            context, continuation = request.args
            out.append(self._continuation_logprob(*self._encode_pair(context, continuation)))
        return out

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        out = []
        for request in _progress(requests, disable_tqdm, "loglikelihood_rolling"):
            (text,) = request.args
            total = 0.0
            tokenized = tokenize(self.base_tokenizer, text)
            for window in rolling_windows(tokenized, self.max_length, self.prefix):
                segmentation = canonical(self.model.compression, window.base)
                scores = score_segmentation(self.model, segmentation, 1, (self.metric,))
                total += float(scores.logprobs[self.metric].astype(np.float64).sum())
            out.append(total)
        return out

    @torch.no_grad()
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        out = []
        for request in _progress(requests, disable_tqdm, "generate_until"):
            context, gen_kwargs = request.args
            kwargs = dict(gen_kwargs or {})
            until = kwargs.pop("until", None) or []
            stops = [until] if isinstance(until, str) else list(until)
            limit = int(kwargs.pop("max_gen_toks", self.max_gen_toks))
            do_sample = bool(kwargs.pop("do_sample", False))
            temperature = float(kwargs.pop("temperature", 1.0) or 1.0)
            if temperature == 0.0:
                do_sample = False
            base = self._ids(context) or [self.prefix]
            base = base[-max(1, self.max_length - limit) :]
            ids = torch.from_numpy(self.tokenizer.compressor.encode(base))[None]
            result: Any = self.model.generate(
                ids.to(self.model.device),
                max_new_tokens=limit,
                do_sample=do_sample,
                temperature=temperature,
                top_p=kwargs.pop("top_p", None),
                top_k=kwargs.pop("top_k", None),
                stop_strings=stops or None,
                tokenizer=self.tokenizer,
                return_dict_in_generate=True,
            )
            generated = result.generated_base_ids[0]
            if self.max_gen_unit == "base_tokens":
                generated = generated[:limit]
            text = str(self.base_tokenizer.decode(generated, skip_special_tokens=True))
            for stop in stops:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            out.append(text)
        return out
