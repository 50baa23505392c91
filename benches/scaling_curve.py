"""How the recipe's gain moves with the base model: the zip2zip - control gap in held-out exact
bits per byte against the base model's own bits per byte, one point per base model, from
``reproduce_small.py`` results (see docs/small-scale-evidence.md).

Each base model is ``LABEL=SOURCE[,SOURCE...]``: the results of runs on that one base model
with the same scale, each a directory holding a ``reproduce_small.json`` or such a JSON file
itself. An arm found in several of them is taken from the first that has it. ``SOURCE@ARM``
takes that source's arm ``ARM`` (an arm's name, or a ``--variant``'s short name) as the
recipe, so a variant run can stand for the recipe. Writes ``scaling.json``, ``scaling.md`` and
``scaling.png`` to ``--out``.

    R=benches/results/reproduce_small
    python benches/scaling_curve.py d96=$R/d96-variants,$R/d96-controls d128=$R/d128-default \\
        d96-300steps=$R/d96-mlp-input-residual-last@mlplast,$R/d96-300steps-8prompts --out $R
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reproduce_small import summarise

RECIPE = "recipe"
CONTROLS = ("control", "param-control")


class ScalingInputError(ValueError):
    """Result directories that cannot make one point (missing arms, mixed base models)."""


@dataclass(frozen=True)
class Source:
    """Results of one ``reproduce_small.py`` run; ``recipe_arm``, when given, is the arm that
    stands for the recipe."""

    path: Path
    recipe_arm: str | None = None

    def __str__(self) -> str:
        return str(self.path) if self.recipe_arm is None else f"{self.path}@{self.recipe_arm}"


def load(source: Source) -> dict[str, Any]:
    path = source.path if source.path.suffix == ".json" else source.path / "reproduce_small.json"
    if not path.is_file():
        raise ScalingInputError(f"{source.path}: no reproduce_small.json")
    results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if source.recipe_arm is not None:
        runs = results["runs"]
        name = arm_named(source.recipe_arm, runs)
        if name is None:
            raise ScalingInputError(
                f"{source}: no arm {source.recipe_arm!r} (it has {', '.join(runs)})"
            )
        results["runs"] = {RECIPE: runs[name], **{k: v for k, v in runs.items() if k != RECIPE}}
        results["recipe_arm"] = name
    return results


def arm_named(name: str, runs: dict[str, Any]) -> str | None:
    """The key of arm ``name`` in ``runs``: the arm itself, or the variant of that short name
    (its key is ``variant NAME (overrides)``)."""
    if name in runs:
        return name
    return next((key for key in runs if key.startswith(f"variant {name} (")), None)


# Generation settings: they change no arm's bits per byte, and the point's generation
# compression is the recipe's source's own.
GENERATION = ("prompts", "new_tokens")


def identity(results: dict[str, Any]) -> tuple[str, str]:
    """The base model and the scale of a run (its generation settings aside), which every
    source of one point must share."""
    base = results["base_model"]
    scale = {k: v for k, v in results["scale"].items() if k not in GENERATION}
    return str(base.get("key", base.get("name"))), json.dumps(scale, sort_keys=True)


def point(label: str, directories: list[Source]) -> dict[str, Any]:
    loaded = [load(d) for d in directories]
    identities = {identity(r) for r in loaded}
    if len(identities) != 1:
        raise ScalingInputError(f"{label}: the sources mix base models or scales")
    arms: dict[str, list[dict[str, Any]]] = {}
    sources: dict[str, str] = {}
    recipe_arm = RECIPE
    for directory, results in zip(directories, loaded, strict=True):
        for name, runs in results["runs"].items():
            if name not in arms:
                arms[name], sources[name] = runs, str(directory)
                if name == RECIPE:
                    recipe_arm = results.get("recipe_arm", RECIPE)
    missing = [name for name in (RECIPE, "control") if name not in arms]
    if missing:
        raise ScalingInputError(
            f"{label}: no {' or '.join(missing)} arm in {', '.join(map(str, directories))}"
        )
    first = loaded[0]
    recipe = summarise(arms[RECIPE])
    row: dict[str, Any] = {
        "label": label,
        "base_model": first["base_model"].get("name", "Llama"),
        "base_parameters": first["base_model"]["parameters"],
        "base_bits_per_byte": first["reference"]["base"]["bits_per_byte"]["strict"],
        "eval": {k: first["scale"][k] for k in ("eval_documents", "eval_chars", "eval_window")},
        "steps": first["scale"]["steps"],
        "ids_per_step": first["scale"]["batch"] * first["scale"]["window"],
        "recipe": recipe["exact"],
        "recipe_input_compression": recipe["input_compression"]["mean"],
        "recipe_greedy_compression": recipe["greedy_compression"]["mean"],
        "recipe_arm": recipe_arm,
        "sources": sources,
    }
    for name in CONTROLS:
        if name in arms:
            control = row[name] = summarise(arms[name])["exact"]
            gap = row[RECIPE]["mean"] - control["mean"]
            spread = math.hypot(row[RECIPE]["std"], control["std"])
            row[f"gap_{name}"] = {"mean": gap, "std": spread, "relative": gap / control["mean"]}
    return row


def cell(stat: dict[str, float] | None) -> str:
    if stat is None:
        return ""
    return f"{stat['mean']:.3f} ± {stat['std']:.3f} ({stat['n']})"


def markdown(points: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# The recipe's gain against the base model's strength",
        "",
        f"Command: `{command}`",
        "",
        "Held-out exact bits per byte, mean ± sample sd (seeds); gap = recipe - control "
        "(negative: zip2zip is better). Base bits/byte is the base model alone on the same "
        "held-out windows (each size has its own evaluation settings, listed). The recipe arm "
        "is the run that stands for the recipe: `recipe` (the recipe's defaults when that run "
        "was made) or a `--variant`.",
        "",
        "| base model | parameters | base bits/byte | eval (docs x chars, window) "
        "| steps x ids per step | recipe arm "
        "| recipe | control | param-control | gap vs control | gap vs param-control "
        "| input compression | greedy generation compression |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        gaps = []
        for name in CONTROLS:
            gap = p.get(f"gap_{name}")
            gaps.append(
                ""
                if gap is None
                else f"{gap['mean']:+.3f} ± {gap['std']:.3f} ({100 * gap['relative']:+.1f} %)"
            )
        e = p["eval"]
        lines.append(
            f"| {p['label']} ({p['base_model']}) | {p['base_parameters']:,} "
            f"| {p['base_bits_per_byte']:.3f} "
            f"| {e['eval_documents']} x {e['eval_chars']}, {e['eval_window']} "
            f"| {p['steps']} x {p['ids_per_step']:,} | {p['recipe_arm']} "
            f"| {cell(p['recipe'])} | {cell(p.get('control'))} | {cell(p.get('param-control'))} "
            f"| {gaps[0]} | {gaps[1]} | {p['recipe_input_compression']:.2f} "
            f"| {p['recipe_greedy_compression']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, marker in (("control", "o"), ("param-control", "s")):
        chosen = [p for p in points if f"gap_{name}" in p]
        if not chosen:
            continue
        axis.errorbar(
            [p["base_bits_per_byte"] for p in chosen],
            [p[f"gap_{name}"]["mean"] for p in chosen],
            yerr=[p[f"gap_{name}"]["std"] for p in chosen],
            fmt=marker,
            capsize=3,
            label=f"recipe - {name}",
        )
    for p in points:
        if "gap_control" in p:
            axis.annotate(p["label"], (p["base_bits_per_byte"], p["gap_control"]["mean"]))
    axis.axhline(0.0, color="grey", linewidth=0.8)
    axis.set_xlabel("base model, held-out bits per byte")
    axis.set_ylabel("held-out exact bits/byte gap (recipe - control)")
    axis.invert_xaxis()  # stronger base models to the right
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_point(text: str) -> tuple[str, list[Source]]:
    label, sep, sources = text.partition("=")
    if not sep or not label or not sources:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=SOURCE[,SOURCE...]")
    parsed = []
    for source in filter(None, sources.split(",")):
        path, at, arm = source.partition("@")
        if at and not arm:
            raise argparse.ArgumentTypeError(f"{source!r}: expected SOURCE@ARM")
        parsed.append(Source(Path(path), arm or None))
    return label, parsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "points", nargs="+", type=parse_point, metavar="LABEL=SOURCE[@ARM][,SOURCE...]"
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        points = [point(label, dirs) for label, dirs in args.points]
    except ScalingInputError as error:
        parser.exit(2, f"error: {error}\n")
    points.sort(key=lambda p: -p["base_bits_per_byte"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python", "benches/scaling_curve.py", *(argv or sys.argv[1:])])
    (out / "scaling.json").write_text(
        json.dumps({"command": command, "points": points}, indent=1) + "\n", encoding="utf-8"
    )
    (out / "scaling.md").write_text(markdown(points, command), encoding="utf-8")
    plot(points, out / "scaling.png")
    print(markdown(points, command))


if __name__ == "__main__":
    main()
