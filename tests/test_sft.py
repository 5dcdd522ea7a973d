"""`dart-trl sft` on a tiny local model on CPU: training, packing, masking, saving, W&B, launch, bad input."""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time

import pytest
import torch
import yaml
from conftest import REPO_ROOT, free_port, run_job

from dart_trl import cli
from dart_trl.config import RESOLVED_RECIPE_NAME, RecipeError
from dart_trl.data import load_table
from dart_trl.locking import LOCK_NAME
from dart_trl.sft import train as sft
from dart_trl.sft.data import prepare_sft_dataset
from dart_trl.templates import format_prompt
from dart_trl.tracking.offline import find_runs, read_run

TINY_RECIPE = str(REPO_ROOT / "recipes" / "sft_tiny_cpu.yaml")
MAX_LENGTH = 256
NUM_ROWS, NUM_OVERLONG, EPOCHS = 48, 2, 3


def arithmetic_rows(n: int, seed: int = 0) -> list[dict]:
    """Unique query/response rows in the DART-Math style, plus an unrelated column."""
    rng = random.Random(seed)
    pairs = rng.sample([(a, b) for a in range(10, 60) for b in range(10, 60)], n)
    return [
        {
            "query": f"What is {a} + {b}?",
            "response": f"We add the numbers: {a} + {b} = {a + b}. The answer is $\\boxed{{{a + b}}}$.",
            "source": "synthetic",
        }
        for a, b in pairs
    ]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """NUM_ROWS short rows and NUM_OVERLONG rows far longer than MAX_LENGTH tokens."""
    rows = arithmetic_rows(NUM_ROWS)
    long_response = " ".join(f"Step {i}: 12 + 30 = 42." for i in range(200))
    rows += [
        {"query": f"Long problem {i}", "response": long_response, "source": "long"}
        for i in range(NUM_OVERLONG)
    ]
    return write_jsonl(tmp_path_factory.mktemp("sft-data") / "train.jsonl", rows)


@pytest.fixture(scope="module")
def trained(tiny_model, data_file, tmp_path_factory):
    """One in-process `dart_trl.sft.train.main` run: 3 epochs over the packed rows, logged to an offline W&B run."""
    out = tmp_path_factory.mktemp("sft-run")
    wandb_dir = out / "wandb-runs"
    wandb_dir.mkdir()
    argv = [
        TINY_RECIPE,
        "--model_name_or_path", str(tiny_model),
        "--dataset_name", str(data_file),
        "--output_dir", str(out / "model"),
        "--max_length", str(MAX_LENGTH),
        "--num_train_epochs", str(EPOCHS),
        "--per_device_train_batch_size", "1",
        "--learning_rate", "2e-3",
        "--report_to", "wandb",
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_DIR", str(wandb_dir))
        assert sft.main(argv) == 0
    return out / "model", read_finished_run(wandb_dir)


def read_finished_run(wandb_dir, timeout: float = 60.0):
    """Read the one run under ``wandb_dir`` once the summary written at the end of training is on disk.

    wandb's writer process may still be flushing when ``wandb.finish()`` returns; records are written in
    order, so once the final summary is there every history row before it is too.
    """
    (run_dir,) = find_runs(wandb_dir)
    deadline = time.monotonic() + timeout
    while True:
        run = read_run(run_dir)
        if "train_runtime" in run.summary or time.monotonic() > deadline:
            return run
        time.sleep(0.5)


def test_loss_falls_and_epochs_apply(trained):
    _, run = trained
    losses = run.series("train/loss")
    assert len(losses) >= 24, f"expected a few dozen logged steps, got {len(losses)}"
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, f"loss did not fall: first steps {first:.3f}, last steps {last:.3f}"
    epochs = [row["train/epoch"] for row in run.history if "train/loss" in row]
    assert epochs[-1] == pytest.approx(EPOCHS)
    steps_in_first_epoch = sum(1 for e in epochs if e <= 1.0 + 1e-9)
    assert len(losses) == EPOCHS * steps_in_first_epoch


def test_wandb_run_has_recipe_fingerprint_commit_and_overlong_count(trained, data_file):
    _, run = trained
    assert run.job_type == "sft" and run.group == "sft-tiny"
    assert run.config["dataset_fingerprint"] == load_table(str(data_file))._fingerprint
    assert run.config["git_commit"]
    assert run.config["num_train_epochs"] == EPOCHS and run.config["max_length"] == MAX_LENGTH
    assert run.config["overlong_rows"] == NUM_OVERLONG
    assert run.config["train_rows"] == NUM_ROWS


def test_saved_model_reloads_with_eos_and_generates(trained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir, _ = trained
    resolved = yaml.safe_load((model_dir / RESOLVED_RECIPE_NAME).read_text())
    assert resolved["num_train_epochs"] == EPOCHS and resolved["max_length"] == MAX_LENGTH
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    prompt = format_prompt("alpaca", "What is 21 + 34?")
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=40, do_sample=False)
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    assert len(new_tokens) > 0
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    assert "add" in text or "answer" in text, (
        f"the trained model did not pick up the response style: {text!r}"
    )


@pytest.fixture(scope="module")
def packed_batch(tiny_model, data_file, tmp_path_factory):
    """The first training batch SFTTrainer builds from the prepared rows, and the prepared rows."""
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    prepared = prepare_sft_dataset(
        load_table(str(data_file)), tokenizer, source=str(data_file), max_length=MAX_LENGTH
    )
    args = SFTConfig(
        output_dir=str(tmp_path_factory.mktemp("sft-batch")),
        max_length=MAX_LENGTH,
        packing=True,
        per_device_train_batch_size=2,
        use_cpu=True,
        bf16=False,
        report_to="none",
    )
    trainer = SFTTrainer(
        model=str(tiny_model), args=args, train_dataset=prepared.dataset, processing_class=tokenizer
    )
    batch = next(iter(trainer.get_train_dataloader()))
    return batch, tokenizer, trainer.model


def segments(batch):
    """(start, end) of each sequence in a padding-free batch, from where the positions restart at 0."""
    positions = batch["position_ids"][0]
    starts = (positions == 0).nonzero().flatten().tolist()
    return list(zip(starts, starts[1:] + [len(positions)], strict=True))


def test_packed_batch_masks_prompts_and_restarts_positions(packed_batch):
    batch, tokenizer, _ = packed_batch
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1  # padding-free
    spans = segments(batch)
    assert len(spans) > 2, "several rows should share a pack"
    input_ids, labels, positions = batch["input_ids"][0], batch["labels"][0], batch["position_ids"][0]
    queries = {row["query"]: row["response"] for row in arithmetic_rows(NUM_ROWS)}
    for start, end in spans:
        ids, lab = input_ids[start:end], labels[start:end]
        assert positions[start:end].tolist() == list(range(end - start))
        masked = int((lab == -100).sum())
        assert lab[:masked].eq(-100).all() and lab[masked:].eq(ids[masked:]).all()
        prompt = tokenizer.decode(ids[:masked], skip_special_tokens=True)
        query = prompt.split("### Instruction:\n")[1].split("\n\n### Response:")[0]
        assert prompt == format_prompt("alpaca", query)
        assert ids[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(ids[masked:-1]) == queries[query]


def test_sdpa_keeps_packed_sequences_apart(packed_batch):
    batch, _, model = packed_batch
    assert model.config._attn_implementation == "sdpa"
    (s0, e0), (s1, e1) = segments(batch)[:2]
    ids = batch["input_ids"][:, s0:e1]
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=batch["position_ids"][:, s0:e1]).logits
        alone = model(input_ids=batch["input_ids"][:, s1:e1]).logits
        leaked = model(input_ids=ids, position_ids=torch.arange(e1 - s0)[None]).logits
    second = slice(s1 - s0, e1 - s0)
    torch.testing.assert_close(packed[:, second], alone, atol=1e-4, rtol=1e-4)
    # Control: without restarting positions the second sequence sees the first and its logits change.
    assert not torch.allclose(leaked[:, second], alone, atol=1e-3)


def test_prepare_counts_overlong_rows_and_adds_one_eos(tiny_model, data_file):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    table = load_table(str(data_file))
    prepared = prepare_sft_dataset(table, tokenizer, source="train.jsonl", max_length=MAX_LENGTH)
    assert (prepared.source_rows, prepared.overlong_rows, prepared.train_rows) == (
        NUM_ROWS + NUM_OVERLONG,
        NUM_OVERLONG,
        NUM_ROWS,
    )
    assert f"{NUM_OVERLONG} rows" in prepared.summary() and f"max_length={MAX_LENGTH}" in prepared.summary()
    kept = prepare_sft_dataset(
        table, tokenizer, source="train.jsonl", max_length=MAX_LENGTH, drop_overlong=False
    )
    assert kept.train_rows == NUM_ROWS + NUM_OVERLONG and kept.overlong_rows == NUM_OVERLONG
    ended = table.map(lambda row: {"response": row["response"] + tokenizer.eos_token})
    row = prepare_sft_dataset(ended, tokenizer, source="x", max_length=MAX_LENGTH).dataset[0]
    assert row["completion"].count(tokenizer.eos_token) == 1
    assert row["input_ids"].count(tokenizer.eos_token_id) == 1


def test_prepare_drops_and_counts_rows_with_empty_text(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    good = arithmetic_rows(3)
    empty = [
        {"query": "", "response": "", "source": "x"},
        {"query": "What is 1 + 1?", "response": "  \n", "source": "x"},
        {"query": "\t", "response": "The answer is 2.", "source": "x"},
    ]
    data = write_jsonl(tmp_path / "rows.jsonl", [good[0], *empty, *good[1:]])
    prepared = prepare_sft_dataset(
        load_table(str(data)), tokenizer, source="rows.jsonl", max_length=MAX_LENGTH
    )
    assert (prepared.source_rows, prepared.empty_rows, prepared.train_rows) == (6, 3, 3)
    assert (
        "3 of 6 rows kept for training; 3 rows (50.00%) have an empty query or response" in prepared.summary()
    )
    kept = [
        p.split("### Instruction:\n")[1].split("\n\n### Response:")[0] for p in prepared.dataset["prompt"]
    ]
    assert kept == [r["query"] for r in good]
    only_empty = write_jsonl(tmp_path / "empty.jsonl", empty)
    with pytest.raises(RecipeError, match=r"empty.jsonl: all 3 rows have an empty 'query' or 'response'"):
        prepare_sft_dataset(
            load_table(str(only_empty)), tokenizer, source="empty.jsonl", max_length=MAX_LENGTH
        )


def run_cli(argv, capsys):
    """Run `dart-trl ARGV` in this process; return the exit code and the last line of stderr (the error)."""
    code = cli.main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    return code, lines[-1] if lines else ""


@pytest.mark.parametrize(
    "rows,expected",
    [
        (
            [{"question": "q", "answer": "a"}],
            ["missing column(s) ['query', 'response']", "'question', 'answer'"],
        ),
    ],
    ids=["missing_columns"],
)
def test_bad_rows_fail_in_the_launcher_with_exit_2(tmp_path, tiny_model, capsys, rows, expected):
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    argv = ["sft", TINY_RECIPE, "--model_name_or_path", str(tiny_model), "--dataset_name", str(data)]
    code, err = run_cli(argv, capsys)
    assert code == 2 and err.startswith("dart-trl sft: error: ")
    for fragment in expected:
        assert fragment in err


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_empty_dataset_fails_with_exit_2(tmp_path, tiny_model, capsys, suffix):
    import datasets

    data = tmp_path / f"empty{suffix}"
    if suffix == ".parquet":
        datasets.Dataset.from_dict({"query": [], "response": []}).to_parquet(data)
    else:
        data.write_text("")
    argv = ["sft", TINY_RECIPE, "--model_name_or_path", str(tiny_model), "--dataset_name", str(data)]
    code, err = run_cli(argv, capsys)
    assert code == 2 and "the dataset is empty (0 rows" in err


def test_all_rows_overlong_fails_before_the_model_loads(tmp_path, tiny_model, data_file):
    no_weights = tmp_path / "tokenizer-and-config-only"
    shutil.copytree(tiny_model, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    argv = [
        TINY_RECIPE,
        "--model_name_or_path", str(no_weights),
        "--dataset_name", str(data_file),
        "--output_dir", str(tmp_path / "out"),
        "--max_length", "8",
        "--report_to", "none",
    ]  # fmt: skip
    with pytest.raises(RecipeError, match=r"all 50 rows are longer than max_length=8"):
        sft.main(argv)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_an_error_inside_the_launched_rank_is_its_one_line_and_exit_2(tiny_model, data_file, tmp_path):
    """Overlong rows are found by the rank (the launcher does not tokenize); `dart-trl sft` passes the
    rank's line and exit code through, without accelerate's traceback."""
    command = [
        sys.executable, "-m", "dart_trl.cli", "sft", TINY_RECIPE,
        "--model_name_or_path", str(tiny_model),
        "--dataset_name", str(data_file),
        "--output_dir", str(tmp_path / "out"),
        "--max_length", "8",
        "--report_to", "none",
    ]  # fmt: skip
    done = run_job(command, timeout=300, cwd=REPO_ROOT)
    rows = NUM_ROWS + NUM_OVERLONG
    expected = f"dart-trl sft: error: {data_file}: all {rows} rows are longer than max_length=8 tokens; nothing to train on"
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == expected
    assert "Traceback" not in done.stderr


def test_dart_trl_sft_runs_two_cpu_processes(tiny_model, data_file, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "dart_trl.cli", "sft", TINY_RECIPE,
        "--model_name_or_path", str(tiny_model),
        "--dataset_name", str(data_file),
        "--output_dir", str(out),
        "--max_length", str(MAX_LENGTH),
        "--accelerate_config", "cpu_ddp",
        "--num_processes", "2",
        "--main_process_port", str(free_port()),  # not 29500: another job on this machine may hold it
        "--max_steps", "3",
        "--ddp_timeout", "120",  # a stuck collective fails with a traceback instead of hanging
        "--report_to", "none",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = run_job(command, timeout=300, env=env, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "process 1 of 2 on cpu" in done.stderr
    assert "global batch 4" in done.stderr  # 2 per process x 2 processes
    assert (out / "model.safetensors").is_file() and (out / RESOLVED_RECIPE_NAME).is_file()
    assert not (out / LOCK_NAME).exists()  # the launcher held it, rank 0 shared it, and it was released
