"""Every shipped recipe parses with its job's dataclasses; every file the README names exists and parses."""

from __future__ import annotations

import importlib
import re
import subprocess

import pytest
import yaml
from conftest import REPO_ROOT, placeholder_overrides

from dart_trl.cli import SUBCOMMANDS
from dart_trl.config import parse_recipe

RECIPES = sorted((REPO_ROOT / "recipes").glob("*.yaml"))
JOB_BY_PREFIX = {"dars": "generate", "sft": "sft", "grpo": "grpo", "eval": "eval", "levels": "levels",
                 "decontaminate": "decontaminate"}  # fmt: skip
# Recipes are written for GPU machines (bf16); this lets TRL's argument checks pass on a CPU-only one.
CPU_OVERRIDES = {"sft": ["--use_cpu", "true"], "grpo": ["--use_cpu", "true"]}


def job_of(recipe_path):
    prefix = recipe_path.stem.split("_")[0]
    return JOB_BY_PREFIX.get(prefix)


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_recipe_parses_with_its_job(path):
    job_name = job_of(path)
    assert job_name, f"{path.name}: name it after its job ({', '.join(JOB_BY_PREFIX)}) so it can be checked"
    job = importlib.import_module(SUBCOMMANDS[job_name][0]).JOB
    recipe, _ = parse_recipe(
        [str(path), *CPU_OVERRIDES.get(job_name, []), *placeholder_overrides(job, path)], job
    )
    assert recipe.values, f"{path.name} is empty"


def readme_paths():
    text = (REPO_ROOT / "README.md").read_text()
    return sorted(set(re.findall(r"\b((?:recipes|launch)/[\w./-]+\.(?:ya?ml|sh))\b", text)))


def test_readme_names_recipes_and_launch_files():
    assert any(p.startswith("recipes/") for p in readme_paths())


@pytest.mark.parametrize("name", readme_paths())
def test_readme_path_exists_and_parses(name):
    path = REPO_ROOT / name
    assert path.is_file(), f"README names {name}, which does not exist"
    if path.suffix in {".yaml", ".yml"}:
        assert isinstance(yaml.safe_load(path.read_text()), dict)
    else:
        subprocess.run(["bash", "-n", str(path)], check=True)
