"""`dart-trl JOB --help` works for every job without a recipe, lists every key by section, and warns of nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dart_trl.cli import SUBCOMMANDS

EXPECTED = {
    "generate": ["--k_p", "--pools YAML", "PoolSpec entries", "gold_format", "--plan", "--shard", "--merge"],
    "sft": ["--dataset_name", "--learning_rate", "--packing", "--model_name_or_path", "--accelerate_config"],
    "grpo": [
        "--stages YAML",
        "StageSpec entries",
        "--num_generations",
        "--reward_funcs",
        "any GRPOConfig key",
    ],
    "levels": ["--small_query_info", "--level3_success_fraction"],
    "eval": ["--benchmarks YAML", "BenchmarkSpec entries", "--temperature", "--n "],
    "compare": ["RUN_DIR", "--wandb_group", "--out"],
    "demo": ["--quick", "--backend"],
    "grade": ["--completion-field"],
    "env": ["dart-trl env"],
    "doctor": ["--quick", "--deadline", "--output_dir"],
    "decontaminate": ["--benchmarks YAML", "BenchmarkSpec mapping", "--ngram_size", "--id_column"],
}


@pytest.mark.parametrize("job", sorted(SUBCOMMANDS))
def test_help_lists_every_key_without_warnings(job):
    done = subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", job, "--help"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    for fragment in EXPECTED[job]:
        assert fragment in done.stdout, f"{job} --help lacks {fragment!r}"
    assert "Warning" not in done.stderr and "warn" not in done.stderr.lower(), done.stderr


def test_help_shows_type_and_default_of_a_key():
    done = subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", "generate", "--help"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    text = " ".join(done.stdout.split())
    assert "[int; default: 192]" in text  # k_p
    assert "DarsArguments" in text and "SamplingArguments" in text and "LaunchArguments" in text
