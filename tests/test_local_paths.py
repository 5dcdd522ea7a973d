"""A path written like the README's (`outputs/x`) is local when its first part exists here; eval's output
directory defaults to one per model."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from dart_trl.config import RecipeError, parse_recipe
from dart_trl.config.checks import check_model, looks_local
from dart_trl.eval.evaluate import JOB, EvalArguments


@pytest.mark.parametrize(
    "name,made,local",
    [
        ("outputs/sft-x", ["outputs"], True),  # the first part exists: a local path, however short
        ("outputs/sft-x", [], False),  # nothing here: a Hub id
        ("hkust-nlp/dart-math-hard", ["outputs"], False),
        ("./sft-x", [], True),
        ("../sft-x", [], True),
        ("/no/such/dir", [], True),
        ("gpt2", [], False),
    ],
)
def test_a_path_whose_first_part_exists_is_local(tmp_path, monkeypatch, name, made, local):
    monkeypatch.chdir(tmp_path)
    for folder in made:
        (tmp_path / folder).mkdir()
    assert looks_local(name) is local


def test_a_missing_local_model_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    with pytest.raises(RecipeError, match="model directory outputs/sft-x does not exist"):
        check_model("outputs/sft-x", "r.yaml")
    check_model("org/model", "r.yaml")  # a Hub id is left to the loader


def test_eval_check_names_the_missing_model_directory(tmp_path):
    (tmp_path / "outputs").mkdir()
    model = "outputs/sft-mistral-7b-prop2diff"
    done = subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", "eval", "eval", "--check", "--model_name_or_path", model],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("dart-trl eval: error: ") and line.endswith(
        f"eval.yaml: key 'model_name_or_path': model directory {model} does not exist"
    ), line


@pytest.mark.parametrize(
    "model,expected",
    [
        ("outputs/sft-llama3-8b-prop2diff", "outputs/eval/sft-llama3-8b-prop2diff"),
        ("outputs/sft-llama3-8b-prop2diff/", "outputs/eval/sft-llama3-8b-prop2diff"),
        ("hkust-nlp/dart-math-llama3-8b-prop2diff", "outputs/eval/dart-math-llama3-8b-prop2diff"),
        (
            "outputs/grpo-llama3-8b/level3/final",
            "outputs/eval/grpo-llama3-8b-level3",
        ),  # not outputs/eval/final
    ],
)
def test_eval_output_dir_defaults_to_one_per_model(model, expected):
    recipe, _ = parse_recipe([str(REPO_ROOT / "recipes" / "eval.yaml"), "--model_name_or_path", model], JOB)
    assert recipe.get(EvalArguments).output_dir == expected
    recipe, _ = parse_recipe(
        [str(REPO_ROOT / "recipes" / "eval.yaml"), "--model_name_or_path", model, "--output_dir", "o/x"],
        JOB,
    )
    assert recipe.get(EvalArguments).output_dir == "o/x"
