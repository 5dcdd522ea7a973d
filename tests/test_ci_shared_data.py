"""Under ``CI=true`` a missing ``../shared`` fails the run; elsewhere the real-data tests skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_pytest_without_shared(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    """Run a real-data test from a copy of the suite's conftest in a tree that has no ../shared."""
    tests = tmp_path / "repo" / "tests"
    tests.mkdir(parents=True)
    shutil.copy(TESTS / "conftest.py", tests / "conftest.py")
    (tests / "test_needs_data.py").write_text(
        "def test_reads(shared_data):\n    assert shared_data.is_dir()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=tests.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ci_fails_when_shared_data_is_absent(tmp_path):
    result = run_pytest_without_shared(tmp_path, "true")
    assert result.returncode != 0
    assert "shared data directory" in result.stdout + result.stderr


def test_outside_ci_the_real_data_tests_skip(tmp_path):
    result = run_pytest_without_shared(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
