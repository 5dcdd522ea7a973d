"""Strict recipe loading: every malformed recipe fails with one line naming file, key and problem."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field

import pytest

from dart_trl.cli import accelerate_command, main
from dart_trl.config import (
    RESOLVED_RECIPE_NAME,
    Job,
    LaunchArguments,
    LazySection,
    RecipeError,
    parse_recipe,
    write_resolved_recipe,
)
from dart_trl.config.resources import resolve_accelerate_config

TYPES = (LaunchArguments, LazySection("trl", "SFTConfig"), LazySection("trl", "ModelConfig"))


def job(options=None) -> Job:
    return Job("sft", main=lambda argv: 0, sections=TYPES, options=options)


def write(tmp_path, text: str, name: str = "recipe.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(path, *overrides, options=None):
    return parse_recipe([str(path), *overrides], job(options))


def test_valid_recipe_fills_every_section(tmp_path):
    from trl import ModelConfig, SFTConfig

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
    recipe, _ = load(path)
    sft, model, launch = recipe.get(SFTConfig), recipe.get(ModelConfig), recipe.get(LaunchArguments)
    assert isinstance(sft, SFTConfig) and isinstance(model, ModelConfig)
    assert sft.learning_rate == 1e-5 and isinstance(sft.learning_rate, float)
    assert sft.num_train_epochs == 3.0 and sft.packing is True
    assert model.model_name_or_path == "some/model" and model.dtype == "bfloat16"
    assert launch.accelerate_config == "zero3" and launch.env["WANDB_PROJECT"] == "dart"


def test_overrides_win_and_are_typed(tmp_path):
    from trl import SFTConfig

    path = write(
        tmp_path,
        f"output_dir: {tmp_path}\nlearning_rate: 1.0e-5\nmax_steps: 10\nreport_to: none\nbf16: false\n",
    )
    recipe, _ = load(path, "--learning_rate", "2e-5", "--max_steps=20", "--packing", "--run-name", "123")
    sft = recipe.get(SFTConfig)
    assert (sft.learning_rate, sft.max_steps) == (2e-5, 20)
    assert sft.packing is True  # a bare flag means true
    assert sft.run_name == "123"  # a str field keeps the text as written
    assert recipe.values["max_steps"] == 20
    assert load(path, "--hub_model_id", "null")[0].get(SFTConfig).hub_model_id is None
    assert load(path, "--report_to", "wandb")[0].get(SFTConfig).report_to == ["wandb"]
    assert load(path, "--env", "{A: 1}")[0].get(LaunchArguments).env == {"A": 1}  # a YAML value


@dataclass
class JobOptions:
    plan: bool = field(default=False, metadata={"help": "plan only"})
    shard: str | None = field(default=None, metadata={"help": "i/N"})


def test_parse_recipe_exports_env_and_separates_job_options(tmp_path, monkeypatch):
    monkeypatch.delenv("DART_TEST_VAR", raising=False)
    path = write(
        tmp_path, f"output_dir: {tmp_path}\nreport_to: none\nbf16: false\nenv: {{DART_TEST_VAR: 7}}\n"
    )
    recipe, options = load(path, "--plan", "--shard", "0/4", "--max_steps", "3", options=JobOptions)
    assert (options.plan, options.shard) == (True, "0/4")
    assert recipe.values["max_steps"] == 3 and "plan" not in recipe.values
    assert os.environ["DART_TEST_VAR"] == "7"
    with pytest.raises(RecipeError, match="unknown key 'plan'"):
        load(write(tmp_path, "plan: true\n", "with_option.yaml"), options=JobOptions)


def test_a_bad_key_is_rejected_before_torch_or_trl_is_imported(tmp_path):
    import subprocess
    import sys

    path = write(tmp_path, "learning_rat: 1e-5\n")
    code = (
        "import sys\nfrom dart_trl.cli import main\ncode = main(['sft', sys.argv[1]])\n"
        "print(code, sorted(m for m in ('torch', 'trl', 'vllm', 'transformers.training_args') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split("\n")[0] == "2 []", done.stdout + done.stderr
    assert "unknown key 'learning_rat'; did you mean 'learning_rate'?" in done.stderr


def test_resolved_recipe_is_written_with_overrides(tmp_path):
    import yaml

    path = write(tmp_path, f"output_dir: {tmp_path}\nreport_to: none\nbf16: false\nlearning_rate: 1e-5\n")
    recipe, _ = load(path, "--max_steps", "5")
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
    ("choices", "dtype: float8\n", ["key 'dtype'", "expects one of", "float8"]),
    ("enum_choice", "bf16: false\nlr_scheduler_type: cosinee\n", ["key 'lr_scheduler_type'", "cosinee"]),
    ("duplicate_key", "max_steps: 1\nmax_steps: 2\n", ["line 2", "key 'max_steps' appears twice"]),
    ("empty", "# nothing here\n", ["empty recipe"]),
    ("accelerate_config", "accelerate_config: zero4\n", ["accelerate_config 'zero4' not found", "zero3"]),
    ("negative_processes", "num_processes: 0\n", ["num_processes must be at least 1"]),
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
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_post_init_checks_of_trl_run_when_the_section_is_built(tmp_path):

    path = write(
        tmp_path, f"output_dir: {tmp_path}\nbf16: false\nlogging_steps: 0\nlogging_strategy: steps\n"
    )
    with pytest.raises(RecipeError, match=r"invalid value for SFTConfig: .*logging_steps"):
        load(path)


def test_recipe_file_problems(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="is a directory"):
        load(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"output_dir: caf\xe9\n")
    with pytest.raises(RecipeError, match=r"latin1.yaml: line 1 is not UTF-8"):
        load(bad)


def test_shipped_recipe_by_name():
    from dart_trl.sft.train import JOB

    recipe, _ = parse_recipe(["sft_tiny_cpu", "--model_name_or_path", "m/m", "--dataset_name", "d/d"], JOB)
    assert recipe.path.name == "sft_tiny_cpu.yaml"
    with pytest.raises(RecipeError, match="sft_tiny_cpu.yaml: key 'model_name_or_path' is required"):
        parse_recipe(["sft_tiny_cpu"], JOB)
    with pytest.raises(RecipeError, match="recipe 'sft_nope' not found"):
        parse_recipe(["sft_nope"], JOB)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (
            ["--learning_rat", "1e-5"],
            "unknown key 'learning_rat' on the command line; did you mean 'learning_rate'",
        ),
        (["--max_steps", "abc"], "command line: key 'max_steps' expects int, got 'abc'"),
        (["--dtype", "float8"], "command line: key 'dtype' expects one of .*, got 'float8'"),
        (["--env", "[a, b]"], "command line: key 'env' expects dict"),
        (["learning_rate", "1e-5"], "unexpected argument 'learning_rate'; overrides are written --key value"),
    ],
)
def test_malformed_override(tmp_path, argv, expected):
    path = write(tmp_path, f"output_dir: {tmp_path}\nreport_to: none\nbf16: false\n")
    with pytest.raises(RecipeError, match=expected) as info:
        load(path, *argv)
    assert str(path) in str(info.value)


def test_accelerate_config_by_name_and_unknown_name():
    assert resolve_accelerate_config("zero3").name == "zero3.yaml"
    assert resolve_accelerate_config("cpu_ddp.yaml").name == "cpu_ddp.yaml"
    with pytest.raises(RecipeError, match="accelerate_config 'zero4' not found"):
        resolve_accelerate_config("zero4")


def test_launch_command_carries_config_and_processes(tmp_path):
    path = write(
        tmp_path,
        f"output_dir: {tmp_path}\nreport_to: none\nbf16: false\naccelerate_config: zero3\nnum_processes: 4\n",
    )
    argv = [str(path), "--max_steps", "2", "--main_process_port", "29777"]
    recipe, _ = load(*argv)
    command = accelerate_command(recipe, "dart_trl.somejob", argv)
    config_file = command[command.index("--config_file") + 1]
    assert config_file.endswith("accelerate/zero3.yaml")
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[command.index("--main_process_port") + 1] == "29777"
    assert command[-7:] == ["-m", "dart_trl.somejob", *argv]


def test_launch_rejects_bad_recipe_before_launching(tmp_path, capsys):
    path = write(tmp_path, "learning_rat: 1\n")
    assert main(["sft", str(path)]) == 2
    assert "unknown key 'learning_rat'" in capsys.readouterr().err


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

    for name, (module, _) in SUBCOMMANDS.items():
        job = importlib.import_module(module).JOB
        assert isinstance(job, Job) and job.name == name and callable(job.main), name
        if job.launch_as:
            assert job.sections and callable(job.validate), name
            assert importlib.util.find_spec(f"{job.launch_as}.__main__") is not None, name


def test_list_keys_take_words_or_a_yaml_list(tmp_path):
    path = write(tmp_path, f"output_dir: {tmp_path}\nbf16: false\n")
    assert load(path, "--report_to", "[wandb, tensorboard]")[0].values["report_to"] == [
        "wandb",
        "tensorboard",
    ]
    assert load(path, "--label_names", "a", "b")[0].values["label_names"] == ["a", "b"]
    assert load(path, "--label_names", "[a, b]")[0].values["label_names"] == ["a", "b"]
    with pytest.raises(RecipeError, match="--label_names: not valid YAML"):
        load(path, "--label_names", "[a, b")
