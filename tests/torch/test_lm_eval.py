"""The ``zip2zip`` model of lm-evaluation-harness, offline: local tasks over local files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from tiny_text_model import save_tiny_model  # noqa: E402
from zip2zip_tokenizers.torch.evaluation import Document, evaluate, load_for_eval  # noqa: E402
from zip2zip_tokenizers.torch.evaluation.harness import Zip2ZipLM  # noqa: E402

PAIRS = [
    ("def add(a, b):\n    return", " a + b\n"),
    ("The quick brown fox", " jumps over the lazy dog. The quick brown fox jumps"),
    ("", "hello hello hello world"),
    ("x = [1, 2, 3]\ny = [1, 2, 3]\nz = ", "[1, 2, 3]"),
]
DOCS = [
    "def f(x):\n    return x + 1\n" * 6,
    "The quick brown fox jumps over the lazy dog. " * 5,
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("lm_eval") / "model", seed=3)


def requests(kind: str, args: list[tuple[Any, ...]]) -> list[Instance]:
    return [Instance(kind, {}, a, i) for i, a in enumerate(args)]


def test_without_a_codebook_loglikelihoods_equal_lm_evals_hf_model(model_dir: Path) -> None:
    ours = Zip2ZipLM(str(model_dir), max_codebook_size=0, max_length=64)
    theirs = HFLM(
        pretrained=ours.model.base_model,
        tokenizer=ours.tokenizer.base_tokenizer,
        max_length=64,
        batch_size=1,
    )
    pairs = [p for p in PAIRS if p[0]]
    mine = ours.loglikelihood(requests("loglikelihood", pairs), disable_tqdm=True)
    hf = theirs.loglikelihood(requests("loglikelihood", pairs), disable_tqdm=True)
    for (a, greedy_a), (b, greedy_b) in zip(mine, hf, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-4) and greedy_a == greedy_b


def test_multi_view_loglikelihoods_bound_strict_and_rolling_matches_eval(model_dir: Path) -> None:
    model, tokenizer = load_for_eval(model_dir, max_codebook_size=128)
    values = {}
    for metric in ("strict", "first", "exact"):
        lm = Zip2ZipLM(model, tokenizer=tokenizer, multi_view=metric, max_length=48)
        values[metric] = [v for v, _ in lm.loglikelihood(requests("loglikelihood", PAIRS), True)]
    for strict, first, exact in zip(*values.values(), strict=True):
        assert first + 1e-4 >= exact >= strict - 1e-4 and strict < 0
    assert any(e > s + 1e-4 for s, e in zip(values["strict"], values["exact"], strict=True))
    rolling = Zip2ZipLM(model, tokenizer=tokenizer, multi_view="exact", max_length=32)
    got = rolling.loglikelihood_rolling(requests("loglikelihood_rolling", [(d,) for d in DOCS]))
    report = evaluate(
        model, tokenizer, [Document(str(i), "d", d) for i, d in enumerate(DOCS)],
        window=32, metrics=("exact",),
    )  # fmt: skip
    assert sum(got) == pytest.approx(-report.total().nll["exact"], rel=1e-6)


def test_generate_until_stops_at_strings_and_counts_ids_or_base_tokens(model_dir: Path) -> None:
    model, tokenizer = load_for_eval(model_dir, max_codebook_size=128)
    prompt = "def f(x):\n    return x + 1\n" * 3
    by_ids = Zip2ZipLM(model, tokenizer=tokenizer, max_length=128)
    by_base = Zip2ZipLM(model, tokenizer=tokenizer, max_length=128, max_gen_unit="base_tokens")
    (free,) = by_ids.generate_until(
        requests("generate_until", [(prompt, {"until": [], "max_gen_toks": 12})]), True
    )
    ids = torch.from_numpy(tokenizer.compressor.encode(tokenizer.base_tokenizer.encode(prompt)))
    # Sampling, from a seed under which the first five ids stand for more than five base tokens.
    for seed in range(50):
        torch.manual_seed(seed)
        out: Any = model.generate(
            ids[None], max_new_tokens=5, do_sample=True, return_dict_in_generate=True
        )
        if out.base_tokens[0] > 5:
            break
    assert out.base_tokens[0] > 5, "the test needs hypertokens among the first five ids"
    args = [(prompt, {"until": [], "max_gen_toks": 5, "do_sample": True})]
    torch.manual_seed(seed)
    (capped,) = by_base.generate_until(requests("generate_until", args), True)
    torch.manual_seed(seed)
    (five_ids,) = by_ids.generate_until(requests("generate_until", args), True)
    base = tokenizer.base_tokenizer
    assert capped == base.decode(out.generated_base_ids[0][:5], skip_special_tokens=True)
    assert five_ids == base.decode(out.generated_base_ids[0], skip_special_tokens=True)
    (greedy,) = by_ids.generate_until(requests("generate_until", [(prompt, {"max_gen_toks": 5})]))
    assert free.startswith(greedy)
    stop = free[len(free) // 2]
    args = [(prompt, {"until": [stop], "max_gen_toks": 12})]
    (stopped,) = by_ids.generate_until(requests("generate_until", args), True)
    assert stop not in stopped and free.startswith(stopped)


def write_tasks(directory: Path) -> Path:
    data = directory / "data"
    data.mkdir(parents=True)
    rows = {
        "mc": [
            {"q": "2 + 2 =", "choices": [" 4", " 5", " 22"], "label": 0},
            {"q": "def add(a, b):\n    return", "choices": [" a + b", " a - b"], "label": 0},
        ],
        "roll": [{"text": d} for d in DOCS],
        "gen": [{"q": "x = 1\ny =", "a": " 1"}],
    }
    for name, items in rows.items():
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    common = "dataset_path: json\ntest_split: test\n"
    tasks = {
        "mc": "output_type: multiple_choice\ndoc_to_text: '{{q}}'\ndoc_to_choice: '{{choices}}'\n"
        "doc_to_target: label\nmetric_list:\n  - metric: acc\n",
        "roll": "output_type: loglikelihood_rolling\ndoc_to_text: ''\ndoc_to_target: '{{text}}'\n"
        "metric_list:\n  - metric: bits_per_byte\n  - metric: byte_perplexity\n",
        "gen": "output_type: generate_until\ndoc_to_text: '{{q}}'\ndoc_to_target: '{{a}}'\n"
        "generation_kwargs:\n  until: ['\\n']\n  max_gen_toks: 4\n"
        "metric_list:\n  - metric: exact_match\n",
    }
    for name, body in tasks.items():
        files = f"dataset_kwargs:\n  data_files:\n    test: {data / (name + '.jsonl')}\n"
        (directory / f"z2z_{name}.yaml").write_text(f"task: z2z_{name}\n{common}{files}{body}")
    return directory


def test_lm_eval_runs_local_tasks_offline_with_the_registered_model(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.tasks import TaskManager

    tasks = write_tasks(tmp_path / "tasks")
    results = lm_eval.simple_evaluate(
        model="zip2zip",
        model_args=f"pretrained={model_dir},max_codebook_size=128,max_length=32",
        tasks=["z2z_mc", "z2z_roll", "z2z_gen"],
        task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
        device="cpu",
    )
    assert results is not None
    scores = results["results"]
    assert 0 <= scores["z2z_mc"]["acc,none"] <= 1
    assert scores["z2z_gen"]["exact_match,none"] in (0.0, 1.0)
    model, tokenizer = load_for_eval(model_dir, max_codebook_size=128)
    report = evaluate(
        model, tokenizer, [Document(str(i), "d", d) for i, d in enumerate(DOCS)], window=32
    )
    expected = report.total().nll["strict"] / report.total().bytes / math.log(2)
    assert scores["z2z_roll"]["bits_per_byte,none"] == pytest.approx(expected, rel=1e-5)
