"""Strict recipe loading: every malformed recipe fails with one line naming file, key and problem."""

from __future__ import annotations

import os
import textwrap
import types

import pytest
from trl import ModelConfig, SFTConfig

from dart_trl.cli import accelerate_command, main
from dart_trl.config import (
    RESOLVED_RECIPE_NAME,
    LaunchArguments,
    RecipeError,
    load_recipe,
    parse_job_argv,
    parse_overrides,
    write_resolved_recipe,
)
from dart_trl.config.resources import resolve_accelerate_config

TYPES = (LaunchArguments, SFTConfig, ModelConfig)


def write(tmp_path, text: str, name: str = "recipe.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_recipe_fills_every_dataclass(tmp_path):
    path = write(
        tmp_path,
        f"""
        # Model
        model_name_or_path: some/model
        dtype: bfloat16
        # Training
        output_dir: {tmp_path / "out"}
        learning_rate: 1e-5          # YAML 1.1 reads this as a string; it becomes a float
        num_train_epochs: 3
        packing: true
        bf16: false                  # TRL turns bf16 on by default, which a CPU-only machine rejects
        report_to: none
        # Launch
        accelerate_config: zero3
        env: {{WANDB_PROJECT: dart, SOME_FLAG: true}}
        """,
    )
    recipe = load_recipe(path, TYPES)
    sft, model, launch = recipe.get(SFTConfig), recipe.get(ModelConfig), recipe.get(LaunchArguments)
    assert sft.learning_rate == 1e-5 and isinstance(sft.learning_rate, float)
    assert sft.num_train_epochs == 3.0 and sft.packing is True
    assert model.model_name_or_path == "some/model" and model.dtype == "bfloat16"
    assert launch.accelerate_config == "zero3" and launch.env["WANDB_PROJECT"] == "dart"


def test_overrides_win_and_are_typed(tmp_path):
    path = write(
        tmp_path,
        f"output_dir: {tmp_path}\nlearning_rate: 1.0e-5\nmax_steps: 10\nreport_to: none\nbf16: false\n",
    )
    overrides = parse_overrides(
        ["--learning_rate", "2e-5", "--max_steps=20", "--packing", "--run-name", "123"]
    )
    recipe = load_recipe(path, TYPES, overrides)
    sft = recipe.get(SFTConfig)
    assert (sft.learning_rate, sft.max_steps) == (2e-5, 20)
    assert load_recipe(path, TYPES, {"report_to": "[wandb]"}).get(SFTConfig).report_to == ["wandb"]
    assert sft.packing is True  # a bare flag means true
    assert load_recipe(path, TYPES, {"hub_model_id": "null"}).get(SFTConfig).hub_model_id is None
    assert sft.run_name == "123"  # a str field keeps the text as written
    assert recipe.values["max_steps"] == 20


def test_parse_job_argv_exports_env_and_separates_job_flags(tmp_path, monkeypatch):
    monkeypatch.delenv("DART_TEST_VAR", raising=False)
    path = write(
        tmp_path, f"output_dir: {tmp_path}\nreport_to: none\nbf16: false\nenv: {{DART_TEST_VAR: 7}}\n"
    )
    recipe, options = parse_job_argv(
        [str(path), "--plan", "--shard", "0/4", "--max_steps", "3"],
        TYPES,
        flags={"plan": False, "shard": True},
    )
    assert options == {"plan": True, "shard": "0/4"}
    assert recipe.get(SFTConfig).max_steps == 3
    assert os.environ["DART_TEST_VAR"] == "7"


def test_resolved_recipe_is_written_with_overrides(tmp_path):
    import yaml

    path = write(tmp_path, f"output_dir: {tmp_path}\nreport_to: none\nbf16: false\nlearning_rate: 1e-5\n")
    recipe = load_recipe(path, TYPES, {"max_steps": "5"})
    written = write_resolved_recipe(recipe, tmp_path / "out")
    assert written.name == RESOLVED_RECIPE_NAME
    assert yaml.safe_load(written.read_text()) == {
        "output_dir": str(tmp_path),
        "report_to": "none",
        "bf16": False,
        "learning_rate": 1e-5,
        "max_steps": 5,
    }


MALFORMED = [
    ("unknown_key", "learning_rat: 1e-5\n", ["unknown key 'learning_rat'", "did you mean 'learning_rate'"]),
    ("unknown_key_far", "zzzz_nothing_like_it: 1\n", ["unknown key 'zzzz_nothing_like_it'"]),
    ("float_text", "num_train_epochs: three\n", ["key 'num_train_epochs'", "expects float", "'three'"]),
    (
        "int_fraction",
        "per_device_train_batch_size: 2.5\n",
        ["key 'per_device_train_batch_size'", "expects int"],
    ),
    (
        "bool_text",
        "gradient_checkpointing: maybe\n",
        ["key 'gradient_checkpointing'", "expects bool", "'maybe'"],
    ),
    ("int_is_bool", "max_steps: true\n", ["key 'max_steps'", "expects int"]),
    ("str_is_number", "model_name_or_path: 7\n", ["key 'model_name_or_path'", "got 7"]),
    ("choices", "dtype: float8\n", ["key 'dtype'", "must be one of", "float8"]),
    ("post_init", "bf16: false\nlr_scheduler_type: cosinee\n", ["invalid value for SFTConfig", "cosinee"]),
    ("env_not_mapping", "env: [A, B]\n", ["key 'env'", "expects dict"]),
    ("num_processes_text", "num_processes: two\n", ["key 'num_processes'", "expects int"]),
    ("report_to_number", "report_to: 5\n", ["key 'report_to'"]),
    ("not_mapping", "- a\n- b\n", ["must be a YAML mapping", "list"]),
    ("bad_yaml", "learning_rate: [1e-5\n", ["is not valid YAML"]),
    ("non_string_key", "1: x\n", ["keys must be strings"]),
    ("null_for_required_int", "max_steps: null\n", ["key 'max_steps'", "expects int"]),
]


@pytest.mark.parametrize("case,text,expected", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_recipe_names_the_problem(tmp_path, case, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, TYPES)
    message = str(info.value)
    assert "\n" not in message
    if case not in {"not_mapping", "bad_yaml", "non_string_key"}:
        assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml", TYPES)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--learning_rat", "1e-5"], "unknown key 'learning_rat'"),
        (["--max_steps", "abc"], "key 'max_steps' expects int"),
    ],
)
def test_malformed_override(tmp_path, argv, expected):
    path = write(tmp_path, f"output_dir: {tmp_path}\nreport_to: none\nbf16: false\n")
    with pytest.raises(RecipeError, match=expected):
        load_recipe(path, TYPES, parse_overrides(argv))


def test_override_must_be_a_flag():
    with pytest.raises(RecipeError, match="expected an override like --key value"):
        parse_overrides(["learning_rate", "1e-5"])


def test_accelerate_config_by_name_and_unknown_name():
    assert resolve_accelerate_config("zero3").name == "zero3.yaml"
    assert resolve_accelerate_config("cpu_ddp.yaml").name == "cpu_ddp.yaml"
    with pytest.raises(RecipeError, match="accelerate_config 'zero4' not found"):
        resolve_accelerate_config("zero4")


# A job module's surface (RECIPE_TYPES, validate), for checking how the launcher builds its command.
FakeJob = types.ModuleType("dart_trl.somejob")
FakeJob.RECIPE_TYPES = TYPES
FakeJob.validate = lambda recipe: None


def test_launch_command_carries_config_and_processes(tmp_path):
    path = write(
        tmp_path,
        f"output_dir: {tmp_path}\nreport_to: none\nbf16: false\naccelerate_config: zero3\nnum_processes: 4\n",
    )
    command = accelerate_command(
        FakeJob, "dart_trl.somejob", [str(path), "--max_steps", "2", "--main_process_port", "29777"]
    )
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    config_file = command[command.index("--config_file") + 1]
    assert config_file.endswith("accelerate/zero3.yaml")
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[command.index("--main_process_port") + 1] == "29777"
    assert command[-7:] == [
        "-m",
        "dart_trl.somejob",
        str(path),
        "--max_steps",
        "2",
        "--main_process_port",
        "29777",
    ]


def test_launch_command_rejects_bad_recipe_before_launching(tmp_path):
    path = write(tmp_path, "learning_rat: 1\n")
    with pytest.raises(RecipeError, match="unknown key"):
        accelerate_command(FakeJob, "dart_trl.somejob", [str(path)])


def test_cli_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("generate", "sft", "grpo", "eval", "grade", "demo"):
        assert f"  {name} " in out


def test_cli_unknown_subcommand(capsys):
    assert main(["train"]) == 2
    assert "unknown subcommand 'train'" in capsys.readouterr().err


def test_launch_env_drops_another_jobs_process_state(monkeypatch):
    from dart_trl.cli import launch_env

    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    monkeypatch.setenv("WANDB_SERVICE", "3-1-unix-/tmp/socket")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    monkeypatch.setenv("WANDB_PROJECT", "kept")
    env = launch_env()
    assert "LOCAL_WORLD_SIZE" not in env and "WANDB_SERVICE" not in env and "TORCHELASTIC_RUN_ID" not in env
    assert env["WANDB_PROJECT"] == "kept"


def test_every_subcommand_has_a_job_module():
    import importlib
    import importlib.util

    from dart_trl.cli import SUBCOMMANDS

    for name, sub in SUBCOMMANDS.items():
        job = importlib.import_module(sub.module)
        assert callable(job.main), name
        if sub.launch_as:
            assert job.RECIPE_TYPES and callable(job.validate), name
            assert importlib.util.find_spec(f"{sub.launch_as}.__main__") is not None, name
