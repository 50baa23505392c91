"""The authors' two older encoder types (``transformer``, ``attention``) load and compute what they
compute in their runtime (PyPI ``zip2zip==0.2.0``, run in its own venv): their checkpoints of
each type, random-initialised by their runtime, give bit-equal encoder outputs here, bit-equal
full-forward logits where their runtime can run the model, and are written back unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from authors_runtime import run_oracle  # noqa: E402
from interop_base import authors_config, tiny_llama_base  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from zip2zip_tokenizers.torch import (  # noqa: E402
    HyperEncoderConfig,
    ModelMismatchError,
    Zip2ZipForCausalLM,
)

C, M, WIDTH = 64, 4, 32
TEXT = "the cat sat on the mat, the cat sat on the mat, the cat sat on the mat"
ENCODERS: dict[str, tuple[str, dict[str, Any]]] = {
    "transformer_learnable": (
        "transformer",
        {
            "hidden_size": WIDTH,
            "num_hidden_layers": 2,
            "intermediate_size": 48,
            "num_heads": 4,
            "tie_encoders": False,
            "position_encoding": "learnable",
        },
    ),
    "transformer_tied_no_positions": (
        "transformer",
        {
            "hidden_size": WIDTH,
            "num_hidden_layers": 1,
            "intermediate_size": 64,
            "num_heads": 2,
            "tie_encoders": True,
            "position_encoding": None,
        },
    ),
    "attention": (
        "attention",
        {"hidden_size": WIDTH, "num_heads": 4, "tie_encoders": False, "position_encoding": None},
    ),
}
# Their attention encoder takes a 2-D codebook but their model hands it a batch: it cannot run
# a forward there, so only its encoders are compared.
RUNNABLE = ("transformer_learnable", "transformer_tied_no_positions")


@pytest.fixture(scope="module")
def older(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("older")
    base = work / "base"
    tok = tiny_llama_base(base, C, M)
    vocab = tok.initial_vocab_size
    ids = tok.base_tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    entries = [[*ids[:2], -1, -1], ids[2:6], [ids[6], -1, -1, -1], [*ids[7:10], -1]]
    tasks: list[dict[str, Any]] = []
    for seed, kind in enumerate(ENCODERS):
        checkpoint = str(work / kind)
        tasks += [
            {
                "op": "create",
                "name": f"create_{kind}",
                "config": authors_config(base, *ENCODERS[kind], tok),
                "out": checkpoint,
                "seed": seed,
            },
            {
                "op": "encode",
                "name": f"encode_{kind}",
                "checkpoint": checkpoint,
                "entries": entries,
            },
        ]
        if kind in RUNNABLE:
            tasks.append(
                {
                    "op": "forward",
                    "name": f"forward_{kind}",
                    "checkpoint": checkpoint,
                    "texts": [TEXT],
                }
            )
    results = run_oracle(tasks, work / "oracle")
    return {"work": work, "tok": tok, "vocab": vocab, "entries": entries, **results}


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_their_encoders_give_bit_equal_vectors_here(older: dict[str, Any], kind: str) -> None:
    model = Zip2ZipForCausalLM.from_pretrained(older["work"] / kind).eval()
    theirs = older[f"encode_{kind}"]
    assert model.compression.pad_token_id == theirs["pad_token_id"]
    expected = "authors_attention" if kind == "attention" else "authors_transformer"
    assert model.encoder_config.kind == expected
    entries = torch.tensor(older["entries"])
    base = model.base_model
    with torch.no_grad():
        mine_in = model.input_encoder(entries, base.get_input_embeddings().weight)
        mine_out = model.output_encoder(entries, base.get_output_embeddings().weight)
    assert torch.equal(mine_in, theirs["input"])
    assert torch.equal(mine_out, theirs["output"])
    assert not torch.equal(mine_in, mine_out)


@pytest.mark.parametrize("kind", RUNNABLE)
def test_their_checkpoints_give_bit_equal_base_and_existing_slot_logits(
    older: dict[str, Any], kind: str
) -> None:
    tok, vocab = older["tok"], older["vocab"]
    model = Zip2ZipForCausalLM.from_pretrained(older["work"] / kind).eval()
    theirs = older[f"forward_{kind}"]
    ids, logits = theirs["ids"][0], theirs["logits"][0]
    assert tok.encode(TEXT) == ids.tolist()
    assert int((ids >= vocab).sum()) >= 3
    with torch.no_grad():
        ours = model(ids[None]).logits[0]
    assert torch.equal(ours[:, :vocab], logits[:, :vocab])
    exists = torch.isfinite(ours[:, vocab:])
    assert int(exists.sum()) >= 3
    assert torch.equal(ours[:, vocab:][exists], logits[:, vocab:][exists])


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_our_save_of_their_older_checkpoint_is_their_file(
    older: dict[str, Any], kind: str, tmp_path: Path
) -> None:
    theirs = older["work"] / kind
    Zip2ZipForCausalLM.from_pretrained(theirs).save_pretrained(tmp_path, authors_compatible=True)
    original = json.loads((theirs / "zip2zip_config.json").read_text())
    written = json.loads((tmp_path / "zip2zip_config.json").read_text())
    assert written == original
    a = load_file(str(theirs / "zip2zip_encoders.safetensors"))
    b = load_file(str(tmp_path / "zip2zip_encoders.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_older_types_refuse_what_their_runtime_would_not_build(
    older: dict[str, Any], tmp_path: Path
) -> None:
    source = older["work"] / "transformer_learnable"
    for change, match in [
        ({"position_encoding": "sinusoidal"}, "position_encoding 'sinusoidal'"),
        ({"hidden_size": WIDTH * 2}, "has no projection"),
    ]:
        broken = tmp_path / match.split()[0]
        shutil.copytree(source, broken)
        path = broken / "zip2zip_config.json"
        data = json.loads(path.read_text())
        data["encoder"].update(change)
        path.write_text(json.dumps(data))
        with pytest.raises((ModelMismatchError, ValueError), match=match):
            Zip2ZipForCausalLM.from_pretrained(broken)
    with pytest.raises(ValueError, match="reads the padding id"):
        from zip2zip_tokenizers.torch.encoders import build_hyper_encoder

        build_hyper_encoder(HyperEncoderConfig(kind="authors_attention", num_heads=2), 8, 4)
