"""Stop strings: ``generate`` and ``eval`` stop at the prompt template's turn markers by default.

The model is a tiny Llama trained here (a few seconds) to answer an addition in the Alpaca format and
then run on into an invented next turn with an answer of its own (``### Instruction:`` ... ``\\boxed{}``),
as a sampler at high temperature may. Unstopped, the last ``\\boxed{}`` is the invented turn's and the
answer is graded wrong; stopped at the markers, the completion ends before the next turn.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_job

from dart_trl.config import run_guarded
from dart_trl.templates import TURN_MARKERS, format_prompt, turn_markers

ADDITIONS = [(2, 3), (1, 4)]  # one sum: the test is about where completions end, not arithmetic
MARKERS = list(TURN_MARKERS["alpaca"])


def question(a: int, b: int) -> str:
    return f"What is {a}+{b}?"


def first_turn(a: int, b: int) -> str:
    return f"The answer is \\boxed{{{a + b}}}."


# What the model writes after its answer: a next turn it made up, with another boxed answer.
INVENTED_TURN = "\n\n### Instruction:\nWhat comes next?\n\n### Response:\nThe answer is \\boxed{0}."


def test_turn_markers_are_the_templates_prompts_stripped():
    assert turn_markers(["alpaca"]) == ["### Instruction:", "### Response:"]
    assert turn_markers(["deepseekmath", "deepseekmath"]) == ["User:", "Assistant:"]
    assert turn_markers(["raw", "chat"]) == []
    for name, markers in TURN_MARKERS.items():
        prompt = format_prompt(name, "Q?")
        assert all(m in prompt for m in markers), name


@pytest.fixture(scope="module")
def chatty_model(tmp_path_factory) -> Path:
    """A tiny Llama trained (40 full-batch steps, ~30 s on 2 cores) to answer, then invent a next turn."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dart_trl.demo.tiny import build_tiny_model

    texts = [format_prompt("alpaca", question(a, b)) + first_turn(a, b) + INVENTED_TURN for a, b in ADDITIONS]
    path = build_tiny_model(
        tmp_path_factory.mktemp("chatty") / "llama", corpus="\n".join(texts * 3), num_layers=1
    )
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    batch = tokenizer(
        [t + tokenizer.eos_token for t in texts], return_tensors="pt", padding=True, add_special_tokens=False
    )
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for i, (a, b) in enumerate(ADDITIONS):  # learn the response only
        labels[
            i,
            : len(tokenizer(format_prompt("alpaca", question(a, b)), add_special_tokens=False)["input_ids"]),
        ] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    torch.manual_seed(0)
    for _ in range(40):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert loss.item() < 0.3
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_yaml(path: Path, values: dict) -> Path:
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.vllm
@pytest.mark.slow
def test_generate_stops_before_an_invented_next_turn(chatty_model, tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(
            json.dumps({"id": f"{a}+{b}", "q": question(a, b), "a": str(a + b)}) + "\n" for a, b in ADDITIONS
        )
    )
    out = tmp_path / "out"
    recipe = write_yaml(
        tmp_path / "dars.yaml",
        {
            "model_name_or_path": str(chatty_model),
            "strategy": "vrt",
            "max_trials": 1,
            "pools": [{"source": str(pool), "name": "add", "id": "id", "query": "q", "answer": "a"}],
            "prompt_template": "alpaca",  # no `stop` key: the template's markers are the default
            "backend": "vllm",
            "temperature": 0.0,
            "max_tokens": 64,
            "max_model_len": 512,
            "dtype": "float32",
            "output_dir": str(out),
            "report_to": "none",
        },
    )
    result = run_job([sys.executable, "-m", "dart_trl.dars.generate", str(recipe)], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert yaml.safe_load((out / "recipe.resolved.yaml").read_text())["stop"] == MARKERS
    records = {r["query_id"]: r for path in sorted((out / "raw").glob("*.jsonl")) for r in read_jsonl(path)}
    assert sorted(records) == sorted(f"{a}+{b}" for a, b in ADDITIONS)
    for a, b in ADDITIONS:
        record = records[f"{a}+{b}"]
        # Ended by the marker (not by EOS or max_tokens): the text up to the invented turn, nothing more.
        assert record["finish_reason"] == "stop"
        assert record["response"].rstrip() == first_turn(a, b)
        assert record["answer"] == str(a + b) and record["correct"]
    import pandas as pd

    data = pd.read_parquet(out / "dataset" / "train.parquet")
    assert len(data) == len(ADDITIONS) and not data["response"].str.contains("###").any()


def run_eval(model: Path, tmp_path: Path, name: str, *overrides: str) -> tuple[dict, list[dict]]:
    from dart_trl.eval.evaluate import main

    rows = [{"q": question(a, b), "a": a + b} for a, b in ADDITIONS]
    data = tmp_path / "additions.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = {"name": "additions", "data_files": str(data), "query_field": "q", "answer_field": "a"}
    recipe = write_yaml(
        tmp_path / f"{name}.yaml",
        {
            "model_name_or_path": str(model),
            "benchmarks": [bench],
            "backend": "transformers",
            "max_tokens": 64,
            "output_dir": str(tmp_path / name),
            "report_to": "none",
        },
    )
    assert run_guarded("eval", main, [str(recipe), *overrides]) == 0
    resolved = yaml.safe_load((tmp_path / name / "recipe.resolved.yaml").read_text())
    return resolved, read_jsonl(tmp_path / name / "additions.jsonl")


def test_eval_stops_at_the_markers_and_stop_empty_disables_it(chatty_model, tmp_path):
    resolved, stopped = run_eval(chatty_model, tmp_path, "default")
    assert resolved["stop"] == MARKERS
    assert [r["completion"].rstrip() for r in stopped] == [first_turn(a, b) for a, b in ADDITIONS]
    assert all(r["correct"] for r in stopped)

    # Without stops the same greedy model writes the invented turn, and its last \boxed{} is graded.
    resolved, unstopped = run_eval(chatty_model, tmp_path, "no-stop", "--stop")
    assert resolved["stop"] == []
    for r, (a, b) in zip(unstopped, ADDITIONS, strict=True):
        assert r["completion"].startswith(first_turn(a, b)) and "### Instruction:" in r["completion"]
        assert r["answer"] == "0" and not r["correct"]
