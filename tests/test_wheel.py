"""The wheel works without the checkout: recipes and accelerate configs ship as package data."""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """A fresh venv outside the repository with the built wheel installed; torch, TRL and vLLM are
    reused from this environment's site-packages (read through a .pth file, so its editable install of
    dart-trl is not seen)."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", root / "dist", REPO_ROOT],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    purelib = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (venv / "lib").joinpath(purelib.split("/lib/", 1)[1], "reused.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )
    wheel = next((root / "dist").glob("dart_trl-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps", wheel],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return venv


def run_in(venv, args, cwd, timeout=300):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_installed_wheel_lists_keys_and_finds_shipped_files(wheel_venv, tmp_path):
    python = wheel_venv / "bin" / "python"
    where = run_in(wheel_venv, [python, "-c", "import dart_trl; print(dart_trl.__file__)"], tmp_path)
    assert str(wheel_venv) in where.stdout, where.stdout + where.stderr  # not the checkout
    helped = run_in(wheel_venv, [wheel_venv / "bin" / "dart-trl", "sft", "--help"], tmp_path)
    assert helped.returncode == 0 and "--dataset_name" in helped.stdout, helped.stderr
    resolved = run_in(
        wheel_venv,
        [
            python,
            "-c",
            "from dart_trl.config.resources import resolve_accelerate_config as r; print(r('zero3'))",
        ],
        tmp_path,
    )
    assert resolved.returncode == 0 and resolved.stdout.strip().startswith(str(wheel_venv)), resolved.stderr
    checked = run_in(
        wheel_venv, [wheel_venv / "bin" / "dart-trl", "sft", "sft_prop2diff", "--help"], tmp_path
    )
    assert checked.returncode == 0


@pytest.mark.slow
def test_installed_wheel_starts_the_demo(wheel_venv, tmp_path):
    """`dart-trl demo --quick` from the wheel gets through its first job (a shipped recipe, run by name)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [wheel_venv / "bin" / "dart-trl", "demo", "--quick", "--output_dir", tmp_path / "demo"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.time() + 600
        while time.time() < deadline and demo.poll() is None and log.read_text().count("\n=== ") < 2:
            time.sleep(2)
        text = log.read_text()
        assert text.count("\n=== ") >= 2, text[-3000:]  # its first job (on a shipped recipe) finished
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(timeout=60)


def test_installed_wheel_ships_the_locks_for_env(wheel_venv, tmp_path):
    """`dart-trl env` from the wheel compares the environment with the locks the wheel carries (this venv
    reuses another's packages, so it matches neither)."""
    done = run_in(wheel_venv, [wheel_venv / "bin" / "dart-trl", "env"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "- Locked set: matches neither lock" in done.stdout, done.stdout
    assert "differences from constraints/cpu.txt" in done.stdout, done.stdout
