"""benches/reproduce_small.py --quick end to end: a tiny BPE and Llama built here, the recipe, its
control and one ``--variant`` uptrained and evaluated; the JSON, the table and the plots must be
well-formed (and ``scaling_curve.py`` and ``generation_by_context.py`` on its results). And the
parsing of ``--variant``."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("matplotlib")
pytest.importorskip("tokenizers")

import numpy as np
from zip2zip_tokenizers.torch.checkpoint import is_peft
from zip2zip_tokenizers.torch.evaluation import evaluate

BENCHES = Path(__file__).resolve().parents[2] / "benches"
MLP = "variant mlp (encoder=mlp, encoder_hidden_size=16)"


def bench() -> Any:
    if str(BENCHES) not in sys.path:  # the bench imports its sibling module ``uptraining``
        sys.path.insert(0, str(BENCHES))
    return importlib.import_module("reproduce_small")


def finite_numbers(value: Any) -> list[float]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [x for item in value.values() for x in finite_numbers(item)]
    return [x for item in value for x in finite_numbers(item)]


def test_quick_run_writes_json_table_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIP2ZIP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    argv = ["--quick", "--threads", "1", "--out", str(out), "--work", str(tmp_path / "w")]
    bench().main([*argv, "--variant", "mlp:encoder=mlp,encoder_hidden_size=16"])

    results = json.loads((out / "reproduce_small.json").read_text(encoding="utf-8"))
    assert results["complete"] is True
    assert results["arms"] == ["recipe", "control"]
    # The MLP variant builds other encoders: its untrained start is a row of its own.
    assert set(results["reference"]) == {"base", "untrained wrapper", "untrained wrapper, mlp"}
    assert set(results["runs"]) == set(results["summary"]) == {"recipe", "control", MLP}
    assert results["variants"] == {
        MLP: {"recipe": {"encoder": "mlp", "encoder_hidden_size": 16}, "training": {}}
    }
    numbers = finite_numbers(results["reference"]) + finite_numbers(results["summary"])
    numbers += finite_numbers([r["heldout"] for runs in results["runs"].values() for r in runs])
    assert numbers and all(math.isfinite(x) for x in numbers)
    for name, runs in results["runs"].items():
        assert len(runs) == 1 and runs[0]["train"]["steps"] == 3
        heldout = runs[0]["heldout"]
        assert set(heldout["bits_per_byte"]) == {"strict", "first", "exact"}
        # Multi-view scoring can only add probability to the canonical path.
        assert heldout["bits_per_byte"]["exact"] <= heldout["bits_per_byte"]["strict"] + 1e-9
        assert heldout["bits_per_byte"]["first"] <= heldout["bits_per_byte"]["exact"] + 1e-9
        assert runs[0]["train"]["seconds_per_step"] > 0
        assert results["summary"][name]["strict"]["n"] == 1
    assert results["runs"]["control"][0]["heldout"]["input_compression"] == 1.0
    assert results["runs"]["recipe"][0]["heldout"]["input_compression"] > 1.0
    # Same steps, same adapter: the recipe trains the encoders and token-type head on top.
    recipe, control = (results["runs"][n][0]["train"] for n in ("recipe", "control"))
    assert recipe["trainable_parameters"] > control["trainable_parameters"]
    # Same adapter, other encoders: the MLP's (2 layers of 16 over 4 x 32 inputs) are smaller.
    mlp = results["runs"][MLP][0]["train"]
    assert control["trainable_parameters"] < mlp["trainable_parameters"]
    assert mlp["trainable_parameters"] != recipe["trainable_parameters"]
    assert (tmp_path / "w" / "variant-mlp-seed0").is_dir()

    table = (out / "reproduce_small.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    names = [row.split("|")[1].strip() for row in rows[1:]]
    assert names == [
        "base",
        "untrained wrapper",
        "untrained wrapper, mlp",
        "recipe",
        "control",
        MLP,
    ]
    assert all(row.count("|") == rows[0].count("|") for row in rows)
    for plot in ("reproduce_small_bpb.png", "reproduce_small_curves.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    check_scaling_curve(tmp_path, out, results)
    check_generation_by_context(tmp_path / "w" / "recipe-seed0", tmp_path / "context")
    check_eval_windows(tmp_path / "w", tmp_path / "windows")
    check_repeated_spans(tmp_path / "w", tmp_path / "spans")


def check_eval_windows(work: Path, out: Path) -> None:
    """benches/eval_windows.py on the quick run's recipe and control: a row per window and arm,
    the control reading base ids only, the recipe compressing, exact never above strict; the
    base model alone and the recipe with its codebook off read base ids, and differently."""
    bench()  # puts benches/ on sys.path
    windows = importlib.import_module("eval_windows")
    argv = ["--model", str(work / "recipe-seed0"), "--model", str(work / "control-seed0")]
    argv += ["--base", "--codebook-off"]
    windows.main(
        [*argv, "--windows", "32,64", "--documents", "2", "--chars", "400", "--out", str(out)]
    )
    rows = json.loads((out / "eval_windows.json").read_text(encoding="utf-8"))["rows"]
    off = "recipe, codebook off"
    assert [(row["arm"], row["window"]) for row in rows] == [
        ("base", 32),
        ("base", 64),
        ("recipe", 32),
        ("recipe", 64),
        (off, 32),
        (off, 64),
        ("control", 32),
        ("control", 64),
    ]
    for row in rows:
        bits = row["bits_per_byte"]
        assert math.isfinite(bits["strict"]) and bits["exact"] <= bits["strict"] + 1e-9
        assert (row["input_compression"] > 1.0) == (row["arm"] == "recipe"), row
    strict = {(row["arm"], row["window"]): row["bits_per_byte"]["strict"] for row in rows}
    # The recipe's trained adapter reads base ids otherwise than the base model alone does.
    assert all(strict[(off, w)] != strict[("base", w)] for w in (32, 64))
    table = (out / "eval_windows.md").read_text(encoding="utf-8")
    assert "| 64 | recipe | 1 |" in table and "| 32 | control | 1 |" in table
    assert f"| 64 | {off} | 1 | 1.00 ± 0.00 |" in table
    model, tokenizer = windows.load_for_eval(work / "recipe-seed0")
    documents = windows.heldout(2, 400, ("code",))  # as the bench reads them
    whole = evaluate(model, tokenizer, documents, window=64, compare_base=True).total()
    assert strict[("base", 64)] == pytest.approx(whole.bits_per_byte("base"), rel=1e-9)


def check_repeated_spans(work: Path, out: Path) -> None:
    """benches/repeated_spans.py on the quick run's recipe and control: the two classes cover
    every base token, and each view's bits summed over them are what ``evaluate`` gives for the
    whole text (the recipe's exact, the base model alone, the control)."""
    bench()  # puts benches/ on sys.path
    spans = importlib.import_module("repeated_spans")
    recipe, control = work / "recipe-seed0", work / "control-seed0"
    argv = ["--recipe", str(recipe), "--control", str(control), "--windows", "64", "--run", "2"]
    spans.main([*argv, "--documents", "2", "--chars", "400", "--out", str(out)])
    rows = json.loads((out / "repeated_spans.json").read_text(encoding="utf-8"))["rows"]
    assert [(row["window"], row["class"]) for row in rows] == [(64, "repeated"), (64, "new")]
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    assert all(row["base_tokens"] > 0 for row in rows)

    def bits(view: str) -> float:
        return sum(row["bits_per_base_token"][view] * row["base_tokens"] for row in rows)

    documents = spans.heldout(2, 400, ("code",))  # as the bench reads them
    model, tokenizer = spans.load_for_eval(recipe)
    whole = evaluate(model, tokenizer, documents, window=64, metrics=["exact"], compare_base=True)
    total = whole.total()
    assert bits("recipe") == pytest.approx(total.nll["exact"] / math.log(2), rel=1e-6)
    assert bits("base") == pytest.approx(total.nll["base"] / math.log(2), rel=1e-6)
    plain, _ = spans.load_for_eval(control)
    total = evaluate(plain, tokenizer, documents, window=64).total()
    assert bits("control") == pytest.approx(total.nll["strict"] / math.log(2), rel=1e-6)
    assert bits("recipe, codebook off") != pytest.approx(bits("base"), rel=1e-9)

    # A fully fine-tuned recipe has no base model alone to score: refused, in both benches.
    spans.is_peft = lambda model: False
    windows = importlib.import_module("eval_windows")
    windows.is_peft = spans.is_peft
    try:
        with pytest.raises(SystemExit, match="adapter"):
            spans.main(argv)
        with pytest.raises(SystemExit, match="no adapter to disable"):
            windows.main(["--model", str(recipe), "--windows", "64", "--base"])
    finally:
        spans.is_peft = windows.is_peft = is_peft


def test_repeated_ends_marks_runs_seen_before() -> None:
    bench()
    spans = importlib.import_module("repeated_spans")
    base = np.array([7, 1, 2, 3, 1, 2, 3, 1, 2, 9])
    assert spans.repeated_ends(base, 2).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 0]
    assert spans.repeated_ends(base, 3).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 0]
    assert spans.repeated_ends(base, 1).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]


def check_generation_by_context(model_dir: Path, out: Path) -> None:
    """benches/generation_by_context.py on the quick run's recipe: a row per prompt length,
    each compression at least 1 (an id stands for one base token or more)."""
    bench()  # puts benches/ on sys.path
    context = importlib.import_module("generation_by_context")
    argv = ["--model", str(model_dir), "--chars", "60,200", "--prompts", "2", "--new-tokens", "4"]
    context.main([*argv, "--out", str(out)])
    payload = json.loads((out / "generation_by_context.json").read_text(encoding="utf-8"))
    # The command recorded is the one given, not the process's own (pytest's) arguments.
    assert payload["command"].startswith("python benches/generation_by_context.py --model ")
    rows = payload["rows"]
    assert [row["chars"] for row in rows] == [60, 200]
    for row in rows:
        for key in ("prompt_compression", "greedy_compression", "sampled_compression"):
            assert 1.0 <= row[key] <= 4.0, (key, row)
        # The codec spends at most one id per new base token on the text written.
        for key in ("greedy_codec_compression", "sampled_codec_compression"):
            assert row[key] >= 1.0, (key, row)
    table = (out / "generation_by_context.md").read_text(encoding="utf-8")
    assert "| 60 | 1 |" in table and "| 200 | 1 |" in table


def check_scaling_curve(tmp_path: Path, out: Path, results: dict[str, Any]) -> None:
    """benches/scaling_curve.py on the quick run's results: one point, its gap the recipe's mean
    minus the control's; a directory without a control is refused."""
    curve = tmp_path / "curve"
    scaling = scaling_bench()
    scaling.main([f"quick={out}", "--out", str(curve)])
    (point,) = json.loads((curve / "scaling.json").read_text(encoding="utf-8"))["points"]
    recipe, control = (
        results["runs"][n][0]["heldout"]["bits_per_byte"]["exact"] for n in ("recipe", "control")
    )
    assert point["gap_control"]["mean"] == pytest.approx(recipe - control)
    assert point["base_bits_per_byte"] == results["reference"]["base"]["bits_per_byte"]["strict"]
    assert "gap_param-control" not in point
    assert (curve / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    check_a_variant_as_the_recipe(tmp_path, out, results)

    lonely = tmp_path / "lonely"
    lonely.mkdir()
    del results["runs"]["control"]
    (lonely / "reproduce_small.json").write_text(json.dumps(results), encoding="utf-8")
    with pytest.raises(scaling.ScalingInputError, match="quick: no control arm in"):
        scaling.point("quick", [scaling.Source(lonely)])


def check_a_variant_as_the_recipe(tmp_path: Path, out: Path, results: dict[str, Any]) -> None:
    """``SOURCE@ARM``: a variant of one run (here a JSON file) stands for the recipe, the control
    coming from another source; an arm the source lacks is refused by name."""
    scaling = scaling_bench()
    runs = results["runs"]
    variant = {**runs["recipe"][0], "heldout": {**runs["recipe"][0]["heldout"]}}
    variant["heldout"]["bits_per_byte"] = {
        **variant["heldout"]["bits_per_byte"],
        "exact": runs["recipe"][0]["heldout"]["bits_per_byte"]["exact"] - 0.25,
    }
    only_variant = {**results, "runs": {"variant mlp (encoder=mlp)": [variant]}}
    source = tmp_path / "variant.json"
    source.write_text(json.dumps(only_variant), encoding="utf-8")
    curve = tmp_path / "variant-curve"
    scaling.main([f"quick={source}@mlp,{out}", "--out", str(curve)])
    (point,) = json.loads((curve / "scaling.json").read_text(encoding="utf-8"))["points"]
    control = runs["control"][0]["heldout"]["bits_per_byte"]["exact"]
    recipe = runs["recipe"][0]["heldout"]["bits_per_byte"]["exact"]
    assert point["recipe_arm"] == "variant mlp (encoder=mlp)"
    assert point["gap_control"]["mean"] == pytest.approx(recipe - 0.25 - control)
    assert "| variant mlp (encoder=mlp) |" in (curve / "scaling.md").read_text(encoding="utf-8")
    with pytest.raises(scaling.ScalingInputError, match="no arm 'mlp2'"):
        scaling.point("quick", [scaling.Source(source, "mlp2"), scaling.Source(out)])

    # Other generation settings still make one point; another scale does not.
    more_prompts = {**only_variant, "scale": {**results["scale"], "prompts": 9}}
    source.write_text(json.dumps(more_prompts), encoding="utf-8")
    assert scaling.point("quick", [scaling.Source(source, "mlp"), scaling.Source(out)])
    more_steps = {**only_variant, "scale": {**results["scale"], "steps": 9}}
    source.write_text(json.dumps(more_steps), encoding="utf-8")
    with pytest.raises(scaling.ScalingInputError, match="mix base models or scales"):
        scaling.point("quick", [scaling.Source(source, "mlp"), scaling.Source(out)])


def scaling_bench() -> Any:
    bench()  # puts benches/ on sys.path
    return importlib.import_module("scaling_curve")


def test_an_unknown_base_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench().parse(["--base", "gpt2"])
    assert exit_info.value.code == 2
    assert "--base: 'gpt2' is not one of llama, smollm2" in capsys.readouterr().err


def test_token_control_without_the_recipe_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench().parse(["--arms", "control,token-control"])
    assert exit_info.value.code == 2
    assert "token-control needs recipe" in capsys.readouterr().err


def test_unknown_arm_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench().parse(["--arms", "recipe,lora"])
    assert exit_info.value.code == 2
    assert "'lora'" in capsys.readouterr().err


def test_arms_none_runs_the_variants_alone_and_needs_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, _ = bench().parse(["--arms", "none", "--variant", "a:lora_r=4"])
    assert args.arms == [] and [v.name for v in args.variants] == ["a"]
    with pytest.raises(SystemExit) as exit_info:
        bench().parse(["--arms", "none"])
    assert exit_info.value.code == 2
    assert "unknown ['none']" in capsys.readouterr().err


def test_variants_parse_each_value_by_its_fields_type() -> None:
    args, _ = bench().parse(
        [
            "--variant",
            "enclr:encoder_learning_rate=3e-4,encoder_warmup_steps=30,tie_encoders=true",
            "--variant",
            "wide:encoder_hidden_size=none,encoder=mlp",
        ]
    )
    enclr, wide = args.variants
    assert dict(enclr.training) == {"encoder_learning_rate": 3e-4, "encoder_warmup_steps": 30}
    assert type(dict(enclr.training)["encoder_warmup_steps"]) is int
    assert dict(enclr.recipe) == {"tie_encoders": True}
    assert dict(wide.recipe) == {"encoder_hidden_size": None, "encoder": "mlp"}
    assert enclr.label == (
        "variant enclr (encoder_learning_rate=3e-4, encoder_warmup_steps=30, tie_encoders=true)"
    )


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("x:encoder_width=32", "variant x: unknown field 'encoder_width'"),
        ("x:encoder_layers=two", "variant x: encoder_layers='two': a whole number expected"),
        ("x:encoder_learning_rate=fast", "encoder_learning_rate='fast': a number expected"),
        ("x:tie_encoders=maybe", "tie_encoders='maybe': true or false expected"),
        ("x:encoder=rnn", "encoder='rnn': one of 'mean', 'transformer', 'mlp'"),
        ("x:encoder=authors_attention", "variant x: encoder must be one of"),  # the recipe's check
        ("x:encoder_warmup_steps=-1", "variant x: encoder_warmup_steps must be >= 0"),
        ("x:seed=3", "variant x: seed is set by the bench"),
        ("x:lora_r=4,lora_r=8", "variant x: lora_r given twice"),
        ("x", "expected NAME:field=value"),
        ("x:lora_r", "variant x: 'lora_r' is not field=value"),
    ],
)
def test_a_bad_variant_is_an_argparse_error_naming_it(
    variant: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench().parse(["--variant", variant])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_variant_name_given_twice_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench().parse(["--variant", "a:lora_r=4", "--variant", "a:lora_r=8"])
    assert exit_info.value.code == 2
    assert "the name 'a' is given twice" in capsys.readouterr().err
