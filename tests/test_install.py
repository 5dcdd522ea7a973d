"""`make install`: torch from the configured indexes, else PyTorch's index; later targets keep the installed set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import install_torch  # noqa: E402

CPU_LOCK = str(REPO_ROOT / "constraints" / "cpu.txt")


def run_install_torch(env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO_ROOT / "tools" / "install_torch.py"), CPU_LOCK, "--dry-run"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_the_pinned_build_names_pytorchs_index():
    assert install_torch.torch_pin(CPU_LOCK) == "torch==2.13.0+cpu"  # constraints/cpu.txt, read by hand
    assert install_torch.fallback_index("torch==2.13.0+cpu") == "https://download.pytorch.org/whl/cpu"
    assert install_torch.fallback_index("torch==2.13.0+cu130") == "https://download.pytorch.org/whl/cu130"
    assert install_torch.fallback_index("torch==2.13.0") is None  # PyPI's own build: no other index


def test_torch_already_installed_costs_one_pip_call():
    done = run_install_torch(dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["installing torch==2.13.0+cpu from the configured package indexes"]


def test_a_torch_build_missing_from_the_indexes_is_retried_on_pytorchs_index():
    # No index and no local wheels: what a machine reaching only PyPI sees for torch==2.13.0+cpu. The retry
    # keeps --no-index, so it fails too, without any network; what it tried is printed.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_IGNORE_INSTALLED="1")
    done = run_install_torch(env)
    assert done.returncode != 0
    assert (
        "torch==2.13.0+cpu is not on the configured package indexes; "
        "trying PyTorch's index https://download.pytorch.org/whl/cpu" in done.stdout
    ), done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "torch==2.13.0+cpu was found neither on the configured indexes nor on https://download.pytorch.org/whl/cpu"
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(
    "stamp,expected",
    [
        ("vllm-gpu-test", "/bin/python -m pytest"),
        ("vllm-gpu-flash-attn-test", "/bin/python -m pytest"),
        (
            "vllm-gpu",
            "make test: .venv has EXTRAS=vllm,gpu, without test: run make install EXTRAS=vllm,gpu,test",
        ),
    ],
)
def test_make_test_keeps_the_installed_set(tmp_path, stamp, expected):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed-test-dev-cpu-vllm").touch()
    os.utime(venv / ".installed-test-dev-cpu-vllm", (1, 1))  # an older CPU install in the same venv
    (venv / f".installed-{stamp}").touch()  # newer than pyproject.toml and the locks: up to date
    done = subprocess.run(
        ["make", "-n", "test", f"VENV={venv}"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert "pip install" not in done.stdout, done.stdout  # nothing reinstalled over the installed set
    assert expected in done.stdout, done.stdout + done.stderr
