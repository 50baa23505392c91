"""Hostile input to the model layer's public entry points (``forward``, ``generate``, the
constructor, encoder settings, checkpoints): every refusal is a ``TypeError`` for a wrong type or
a ``Zip2ZipError`` subclass naming the argument, raised before any work reaches the base model,
and a refused call leaves the model's parameters and a passed state as they were."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from test_model import MEAN, TRANSFORMER, V, canonical, config, repetitive, wrapped  # noqa: E402
from zip2zip_tokenizers import (  # noqa: E402
    CompressionConfig,
    InvalidArgumentError,
    Zip2ZipError,
)
from zip2zip_tokenizers.settings import ConfigFileError  # noqa: E402
from zip2zip_tokenizers.torch import (  # noqa: E402
    HyperEncoderConfig,
    InvalidEncoderConfigError,
    ModelMismatchError,
    Zip2ZipForCausalLM,
)
from zip2zip_tokenizers.torch.generation_options import InvalidGenerationOptionError  # noqa: E402
from zip2zip_tokenizers.torch.kv_cache import MAX_RESERVED_AHEAD, reserved_cache  # noqa: E402


@pytest.fixture(scope="module")
def model() -> Any:
    return wrapped("llama", MEAN)


def ids() -> torch.Tensor:
    return torch.tensor([canonical(repetitive(20, seed=4))])


def parameters(model: Any) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"input_ids": [[3, 4]]}, TypeError, "input_ids must be a torch.Tensor, got list"),
        ({"input_ids": torch.tensor([3, 4])}, InvalidArgumentError, r"\[batch, length\]"),
        ({"input_ids": torch.tensor([[3.0, 4.0]])}, TypeError, "input_ids must hold integers"),
        ({"input_ids": torch.zeros((1, 0), dtype=torch.long)}, InvalidArgumentError, "one column"),
        ({"input_ids": torch.zeros((0, 3), dtype=torch.long)}, InvalidArgumentError, "one row"),
        ({"labels": "x"}, TypeError, "labels must be a torch.Tensor"),
        ({"labels": torch.zeros((1, 3), dtype=torch.long)}, InvalidArgumentError, "labels must"),
        ({"labels": torch.zeros((1, 20))}, TypeError, "labels must hold integers"),
        ({"position_ids": torch.arange(3)[None]}, InvalidArgumentError, "position_ids must be"),
        ({"logits_to_keep": -1}, InvalidArgumentError, "logits_to_keep must be >= 0"),
        ({"logits_to_keep": 1.5}, TypeError, "logits_to_keep must be an int"),
        (
            {"attention_mask": torch.ones(2, 20, dtype=torch.long)},
            InvalidArgumentError,
            r"size 1, got shape \(2",
        ),
        ({"attention_mask": torch.full((1, 20), 0.5)}, TypeError, "attention_mask must hold"),
    ],
)
def test_forward_refuses_bad_tensors_before_the_base_model(
    model: Any, arguments: dict[str, Any], error: type[Exception], match: str
) -> None:
    before = parameters(model)
    with pytest.raises(error, match=match) as caught:
        model(**{"input_ids": ids(), **arguments})
    assert error is TypeError or isinstance(caught.value, Zip2ZipError)
    assert all(torch.equal(a, b) for a, b in zip(before, parameters(model), strict=True))


def test_a_state_is_used_only_by_the_model_that_made_it(model: Any) -> None:
    other = wrapped("llama", MEAN)
    state = other.new_state(1)
    with pytest.raises(ModelMismatchError, match="another model's new_state"):
        model(ids(), state=state)
    assert state.columns == 0  # refused before any id was fed
    with pytest.raises(TypeError, match="state must be a HyperState"):
        model(ids(), state=object())


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"max_new_tokens": 1.5}, TypeError, "max_new_tokens must be an int"),
        ({"max_new_tokens": "5"}, TypeError, "max_new_tokens must be an int"),
        ({"top_k": 2.5}, TypeError, "top_k must be an int"),
        ({"temperature": "hot"}, TypeError, "temperature must be a number"),
        ({"temperature": float("inf"), "do_sample": True}, InvalidGenerationOptionError, "temp"),
        ({"repetition_penalty": float("inf")}, InvalidGenerationOptionError, "repetition_pen"),
        ({"length_penalty": float("nan"), "num_beams": 2}, InvalidGenerationOptionError, "length"),
        ({"eos_token_id": "2"}, TypeError, "eos_token_id must be an id"),
        ({"eos_token_id": [2, None]}, TypeError, "eos_token_id must be an id"),
        ({"eos_token_id": -1}, InvalidGenerationOptionError, "eos_token_id must be ids >= 0"),
        ({"eos_token_id": 10**6}, InvalidGenerationOptionError, "eos_token_id 1000000 is not"),
        ({"pad_token_id": -5}, InvalidGenerationOptionError, "pad_token_id must be >= 0"),
        ({"pad_token_id": V + 48}, InvalidGenerationOptionError, "pad_token_id 112 is not"),
        ({"stop_strings": 5}, TypeError, "stop_strings must be a string"),
        ({"stop_strings": ["x", ""]}, InvalidGenerationOptionError, "non-empty strings"),
        ({"stop_strings": ["x"]}, InvalidGenerationOptionError, "stop_strings needs tokenizer="),
        ({"generation_config": "greedy"}, TypeError, "generation_config must be"),
        ({"do_sample": "no"}, TypeError, "do_sample must be True or False, got 'no'"),
        ({"streamer": object(), "num_return_sequences": 2, "do_sample": True}, Zip2ZipError, "2 "),
    ],
)
def test_generate_names_the_bad_option(
    model: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        model.generate(ids(), **{"max_new_tokens": 2, **options})


@pytest.mark.parametrize(
    ("prompt", "mask", "match"),
    [
        (torch.zeros((1, 0), dtype=torch.long), None, "one column"),
        (torch.tensor([[3, 4, 5]]), torch.ones(2, 3, dtype=torch.long), "batch size 1"),
        (torch.tensor([[3, 4, 5]]), torch.ones(1, 2, dtype=torch.long), "input_ids' shape"),
        (torch.tensor([[3, 4, 5]] * 2), torch.tensor([[1, 1, 1], [0, 0, 0]]), "row 1 masks"),
    ],
)
@pytest.mark.parametrize("num_beams", [1, 2])
def test_generate_refuses_a_prompt_that_does_not_fit_its_mask(
    model: Any, prompt: torch.Tensor, mask: torch.Tensor | None, match: str, num_beams: int
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        model.generate(prompt, mask, max_new_tokens=2, num_beams=num_beams)


@pytest.mark.parametrize("num_beams", [1, 2])
def test_a_huge_max_new_tokens_reserves_a_bounded_cache(model: Any, num_beams: int) -> None:
    # Every id is an EOS: one step, but the whole 10**9 steps would once have been reserved.
    every_id = list(range(model.total_vocab_size))
    out = model.generate(ids(), max_new_tokens=10**9, eos_token_id=every_id, num_beams=num_beams)
    assert out.shape[1] == ids().shape[1] + 1
    cache = reserved_cache(model.base_model, 7, 10**9)
    assert all(layer.capacity == 7 + MAX_RESERVED_AHEAD for layer in cache.layers)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"kind": "bogus"}, "unknown hyper-encoder kind"),
        ({"hidden_size": 0}, "hidden_size must be >= 1"),
        ({"num_heads": 0}, "num_heads must be >= 1"),
        ({"num_hidden_layers": "2"}, "num_hidden_layers must be an integer"),
        ({"intermediate_size": 2.5}, "intermediate_size must be an integer"),
        ({"causal": "yes"}, "causal must be true or false"),
        ({"pooling": "max"}, "unknown pooling"),
    ],
)
def test_encoder_settings_are_checked_where_they_are_declared(
    fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidEncoderConfigError, match=match):
        HyperEncoderConfig(**fields)


def test_the_constructor_names_arguments_of_the_wrong_type(model: Any) -> None:
    with pytest.raises(TypeError, match="compression must be a CompressionConfig, got dict"):
        Zip2ZipForCausalLM(model.base_model, {"initial_vocab_size": V})
    with pytest.raises(TypeError, match="base_model must be a causal LM"):
        Zip2ZipForCausalLM(None, config())
    with pytest.raises(InvalidEncoderConfigError, match="not a multiple of num_heads 5"):
        Zip2ZipForCausalLM(model.base_model, config(), HyperEncoderConfig(num_heads=5))
    assert isinstance(CompressionConfig(V, 4, 2), CompressionConfig)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hostile") / "good"
    wrapped("llama", TRANSFORMER).save_pretrained(directory, save_base=True)
    return directory


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"hidden_size": "abc"}, "encoder: hidden_size must be an integer, got 'abc'"),
        ({"num_heads": 0}, "encoder: num_heads must be >= 1"),
        ({"num_hidden_layers": "2"}, "encoder: num_hidden_layers must be an integer"),
        ({"tie_encoders": "no"}, "encoder: tie_encoders must be true or false"),
        ({"causal": "yes"}, "encoder: causal must be true or false"),
    ],
)
def test_a_checkpoint_with_bad_encoder_settings_names_file_and_field(
    checkpoint: Path, tmp_path: Path, edit: dict[str, Any], match: str
) -> None:
    directory = tmp_path / "edited"
    shutil.copytree(checkpoint, directory)
    path = directory / "zip2zip_config.json"
    data = json.loads(path.read_text())
    data["encoder"].update(edit)
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigFileError, match=match) as caught:
        Zip2ZipForCausalLM.from_pretrained(directory)
    assert str(path) in str(caught.value)


def test_a_checkpoint_given_a_base_model_of_another_width_is_a_mismatch(
    checkpoint: Path, tmp_path: Path
) -> None:
    from tiny_models import HIDDEN, tiny_model

    wider = tiny_model("llama", V, hidden=2 * HIDDEN)
    with pytest.raises(ModelMismatchError, match="does not fit the input_encoder"):
        Zip2ZipForCausalLM.from_pretrained(checkpoint, base_model=wider)
    with pytest.raises(TypeError, match="base_model must be a causal LM"):
        Zip2ZipForCausalLM.from_pretrained(checkpoint, base_model=123)


def test_a_state_and_a_cache_must_have_read_the_same_columns(model: Any) -> None:
    state = model.new_state(1)
    first = model(ids(), state=state, use_cache=True)
    with pytest.raises(
        InvalidArgumentError, match=f"has read {ids().shape[1]} columns but past_key_values holds 0"
    ):
        model(ids(), state=state)
    with pytest.raises(InvalidArgumentError, match="has read 0 columns but past_key_values holds"):
        model(ids(), state=model.new_state(1), past_key_values=first.past_key_values)
    assert state.columns == ids().shape[1]  # neither refused call fed the state


def test_a_state_serves_one_call_at_a_time(model: Any) -> None:
    state = model.new_state(1)
    with state.exclusive(), pytest.raises(InvalidArgumentError, match="in use by another call"):
        model(ids(), state=state)
    assert state.columns == 0
    assert model(ids(), state=state).logits.shape[1] == ids().shape[1]


def test_the_streamer_takes_a_flat_sequence_of_base_ids() -> None:
    from char_tokenizer import char_tokenizer
    from zip2zip_tokenizers.torch.streamer import TextStreamer

    pieces: list[str] = []
    streamer = TextStreamer(char_tokenizer(), on_text=pieces.append)
    with pytest.raises(TypeError, match="flat sequence of base ids"):
        streamer.put(torch.tensor([[5, 6], [5, 6]]))
    streamer.put(torch.tensor([5, 6]))
    streamer.put([7])
    streamer.end()
    assert "".join(pieces) == streamer.text == "bcd"


def test_state_row_operations_name_bad_rows_and_ids(model: Any) -> None:
    import numpy as np
    from zip2zip_tokenizers import InvalidTokenError

    state = model.new_state(2)
    model(torch.cat([ids(), ids()]), state=state)
    fed = state.columns
    with pytest.raises(InvalidArgumentError, match=r"2 row indices in \[0, 2\), got \[5, 0\]"):
        state.reorder(np.array([5, 0]))
    with pytest.raises(InvalidArgumentError, match="row 9 of a state of 2 rows"):
        state.base_ids(9, 3)
    with pytest.raises(InvalidTokenError, match=f"id {V + 40} is no entry"):
        state.base_ids(0, V + 40)
    assert state.columns == fed
    assert state.base_ids(0, 3) == [3]
    with pytest.raises(TypeError, match="encoder_config must be a HyperEncoderConfig"):
        Zip2ZipForCausalLM(model.base_model, config(), "mean")  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", ["save_base", "authors_compatible"])
def test_save_pretrained_refuses_a_flag_that_is_not_a_bool(
    model: Any, tmp_path: Path, flag: str
) -> None:
    with pytest.raises(TypeError, match=f"{flag} must be True, False or None, got 'yes'"):
        model.save_pretrained(tmp_path / "out", **{flag: "yes"})
    assert not (tmp_path / "out").exists()
