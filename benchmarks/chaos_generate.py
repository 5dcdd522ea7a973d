"""Chaos run of ``dart-trl generate``: SIGKILL real runs at random points, rerun, check the files on disk.

A tiny Llama is trained for a few seconds to answer four additions (two more queries stay unsolved),
then DARS-Prop2Diff runs on it with each backend (``--backends``, default vllm and transformers).
Each run is killed with SIGKILL, its main process only, at a random moment of one phase, in turn:
engine start (vLLM: after its EngineCore exists; transformers: after the pool is loaded), mid-sampling
(after a random number of new samples reached disk), finalize (after the last round's state was
written) and start-up (0.2-3 s after launch); then it is rerun in the same output directory. After the
first kill that finds a ``state.json``, and every fourth kill after that, the state file is also
emptied, as a crash while writing it would leave it; the rerun must rebuild it from the raw shards.
When a run finishes before its kill point, the next phase needs sampling that is already done, or
the kills are used up, the output is finished and checked, and the next kills go to a fresh output
directory.

Checked from the files (raw shards, ``dataset/train.parquet``, ``query_info.parquet``) and psutil:
- samples lost: samples on disk right after a kill that are missing at the end;
- samples duplicated: (query, round, sample) keys written more than once, plus repeated
  (query, response) rows in the dataset;
- queries whose dataset count != min(target, distinct correct responses in the raw shards), or whose
  query_info counts differ from the raw shards;
- orphans: processes of the killed job (descendants, or marked with its ``DART_TRL_JOB``) still
  running 10 s after the kill, or processes a finishing run left behind.

    python benchmarks/chaos_generate.py [--kills 20] [--backends vllm,transformers] [--seed 0]
    python benchmarks/chaos_generate.py --kills transformers=4,vllm=1 --json out.json   # the CI size
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from dart_trl.demo.tiny import ADDITIONS, UNSEEN_ADDITIONS, build_addition_model, write_addition_recipe
from dart_trl.processes import (
    descendants,
    job_token,
    marked_processes,
    process_names,
    run_bounded,
    stop_processes,
    wait_gone,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
PHASES = ["engine start", "mid-sampling", "finalize", "start-up"]
ORPHAN_SECONDS = 10.0
RUN_TIMEOUT = 900.0
REBUILT_NOTE = "rebuilt it from the raw shards"


def raw_records(out: Path) -> list[dict]:
    """The complete lines of every raw shard (a torn last line is not a sample)."""
    records = []
    for path in sorted((out / "raw").glob("*.jsonl")):
        for line in path.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                records.append(json.loads(line))
    return records


def sample_key(record: dict) -> tuple[str, int, str]:
    """What identifies a sample: query, round and its place in the round."""
    return record["query_id"], record["round"], record["sample"]


def job_remains(tree: list[psutil.Process], token: str, deadline: float) -> list[psutil.Process]:
    """Wait until the processes of a killed job are gone (those it had, and any marked as its own since,
    e.g. a worker its engine started after the kill); return those still running at ``deadline``."""
    while True:
        left = list({p.pid: p for p in wait_gone(tree, 0.0) + marked_processes(token)}.values())
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.25)


@dataclass
class Kill:
    """One SIGKILL of a run's main process and what it left."""

    backend: str
    phase: str
    seconds: float  # after launch
    samples_on_disk: int
    job_processes: list[str]  # besides the main process, at the moment of the kill
    orphans: list[str]  # still running ORPHAN_SECONDS later
    gone_seconds: float  # until the last of them ended
    state_emptied: bool = False


@dataclass
class Report:
    """Everything the chaos run counted."""

    kills: list[Kill] = field(default_factory=list)
    outputs_checked: int = 0
    samples_lost: int = 0
    samples_duplicated: int = 0
    bad_queries: int = 0
    orphans: int = 0
    failed_runs: int = 0
    hung_runs: int = 0
    states_emptied: int = 0
    states_rebuilt: int = 0
    problems: list[str] = field(default_factory=list)


class Chaos:
    """Runs, kills and checks ``dart-trl generate`` in fresh output directories under ``root``."""

    def __init__(self, root: Path, model: Path, rng: random.Random, report: Report) -> None:
        self.root, self.model, self.rng, self.report = root, model, rng, report
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "WANDB_MODE": "disabled",
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
            "TOKENIZERS_PARALLELISM": "false",
        }
        self.outputs = 0
        self.kills_since_emptied = 3

    def run_backend(self, backend: str, kills: int) -> None:
        """Deliver ``kills`` kills to runs of ``backend``, checking each output directory at its end."""
        delivered = 0
        while delivered < kills:
            self.outputs += 1
            work = self.root / f"{backend}-{self.outputs}"
            work.mkdir()
            out = work / "out"
            recipe = write_addition_recipe(
                work / "dars.yaml",
                self.model,
                backend=backend,
                output_dir=str(out),
                batch_size=8,
                report_to="none",
            )
            seen: set[tuple] = set()
            finished = False
            while delivered < kills and not finished:
                phase = PHASES[delivered % len(PHASES)]
                if phase in ("engine start", "mid-sampling") and self.sampling_done(out, launched=0.0):
                    break  # nothing left to sample here: a fresh output directory for this phase
                kill = self.run_and_kill(backend, phase, recipe, out, work / f"run-{delivered}.log")
                if kill is None:
                    finished = True
                    continue
                delivered += 1
                seen |= {sample_key(r) for r in raw_records(out)}
            if not finished:
                self.finish(recipe, out, work / "final.log")
            self.check_output(out, seen)

    def launch(self, recipe: Path, log: Path) -> subprocess.Popen:
        """Start ``dart-trl generate RECIPE`` in a session of its own, output to ``log``."""
        with log.open("w") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "dart_trl.cli", "generate", str(recipe)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )

    def run_and_kill(self, backend: str, phase: str, recipe: Path, out: Path, log: Path) -> Kill | None:
        """Run once and SIGKILL it in ``phase``; None when it finished first (then it must have succeeded)."""
        expect_rebuild = (out / "state.json").is_file() and (out / "state.json").stat().st_size == 0
        start = time.monotonic()
        process = self.launch(recipe, log)
        main = psutil.Process(process.pid)
        token = job_token(process.pid)
        reached = self.wait_for(phase, process, backend, out, start)
        if not reached:
            self.after_clean_exit(process, log, expect_rebuild)
            return None
        tree = [p for p in descendants(process.pid) + marked_processes(token) if p.pid != main.pid]
        tree = list({p.pid: p for p in tree}.values())
        names = process_names(tree)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed_at = time.monotonic()
        samples = len(raw_records(out))
        left = job_remains(tree, token, killed_at + ORPHAN_SECONDS)
        gone_seconds = time.monotonic() - killed_at
        orphans = process_names(left)
        stop_processes(left)
        if expect_rebuild and REBUILT_NOTE in log.read_text():
            self.report.states_rebuilt += 1
        self.kills_since_emptied += 1
        emptied = (out / "state.json").is_file() and self.kills_since_emptied >= 4
        if emptied:
            (out / "state.json").write_bytes(b"")
            self.report.states_emptied += 1
            self.kills_since_emptied = 0
        kill = Kill(backend, phase, killed_at - start, samples, names, orphans, gone_seconds, emptied)
        self.report.kills.append(kill)
        self.report.orphans += len(orphans)
        print(
            f"kill {len(self.report.kills):2d}  {backend:12s} {phase:13s} at {kill.seconds:5.1f} s: "
            f"{samples:3d} samples on disk, {len(names)} job processes"
            + (f" ({', '.join(sorted({n.split(' (')[0] for n in names}))})" if names else "")
            + f"; orphans after {ORPHAN_SECONDS:.0f} s: {len(orphans)}"
            + (f" {orphans}" if orphans else f" (all gone in {gone_seconds:.1f} s)")
            + ("; state.json emptied" if emptied else ""),
            flush=True,
        )
        return kill

    def wait_for(self, phase: str, process: subprocess.Popen, backend: str, out: Path, start: float) -> bool:
        """Wait until a random moment of ``phase`` (checked every 0.1 s); False if the run exited first."""
        launched = time.time()
        on_disk = len(raw_records(out))
        trigger_at = None
        if phase == "start-up":
            trigger_at = start + self.rng.uniform(0.2, 3.0)
        goal = on_disk + self.rng.randint(1, 24)
        while process.poll() is None:
            now = time.monotonic()
            if now - start > RUN_TIMEOUT:
                self.report.hung_runs += 1
                self.report.problems.append(f"a {backend} run did not reach its {phase} kill point")
                return True
            if trigger_at is None:
                if phase == "engine start" and self.engine_started(process.pid, backend, out, launched):
                    trigger_at = now + self.rng.uniform(0.0, 3.0 if backend == "vllm" else 1.5)
                elif phase == "mid-sampling" and len(raw_records(out)) >= goal:
                    trigger_at = now
                elif phase == "finalize" and self.sampling_done(out, launched):
                    trigger_at = now + self.rng.uniform(0.0, 1.0)
            if trigger_at is not None and now >= trigger_at:
                return True
            time.sleep(0.1)
        return False

    @staticmethod
    def engine_started(pid: int, backend: str, out: Path, launched: float) -> bool:
        """vLLM: an EngineCore process runs; others: the run has written its pool and is loading the model."""
        if backend == "vllm":
            for child in descendants(pid):
                try:
                    if "EngineCore" in child.name() or "EngineCore" in " ".join(child.cmdline()):
                        return True
                except psutil.NoSuchProcess:
                    continue
            return False
        queries = out / "queries.parquet"
        return queries.is_file() and queries.stat().st_mtime >= launched

    @staticmethod
    def sampling_done(out: Path, launched: float) -> bool:
        """Sampling in ``out`` is over, judged from files written since ``launched``: the state says all
        queries are done, or the dataset is being or has been written."""

        def written_since_launch(pattern: str) -> bool:
            return any(path.stat().st_mtime >= launched for path in out.glob(pattern))

        try:
            if any(map(written_since_launch, ("dataset/.train.parquet.*.tmp", "query_info.parquet"))):
                return True
            if not written_since_launch("state.json"):
                return False
            values = json.loads((out / "state.json").read_text())
        except (OSError, ValueError):
            return False
        return "queries" in values and values.get("queries_done") == values["queries"]

    def after_clean_exit(self, process: subprocess.Popen, log: Path, expect_rebuild: bool) -> None:
        """Record a run that ended before its kill point: it must have succeeded."""
        if process.returncode != 0:
            self.report.failed_runs += 1
            self.report.problems.append(f"a run exited with {process.returncode}: {log.read_text()[-2000:]}")
        if expect_rebuild and REBUILT_NOTE in log.read_text():
            self.report.states_rebuilt += 1

    def finish(self, recipe: Path, out: Path, log: Path) -> None:
        """Rerun to completion after the last kill (bounded; leftovers count as orphans)."""
        expect_rebuild = (out / "state.json").is_file() and (out / "state.json").stat().st_size == 0
        done = run_bounded(
            [sys.executable, "-m", "dart_trl.cli", "generate", str(recipe)],
            RUN_TIMEOUT,
            env=self.env,
            cwd=REPO_ROOT,
        )
        log.write_text(done.stdout + done.stderr)
        if expect_rebuild and REBUILT_NOTE in done.stderr:
            self.report.states_rebuilt += 1
        self.report.orphans += len(done.leftovers)
        if done.timed_out:
            self.report.hung_runs += 1
            self.report.problems.append(f"the final run hung: {done.stderr[-2000:]}")
        elif done.returncode != 0:
            self.report.failed_runs += 1
            self.report.problems.append(f"the final run exited with {done.returncode}: {done.stderr[-2000:]}")

    def check_output(self, out: Path, seen: set[tuple]) -> None:
        """Count lost and duplicated samples and wrong per-query counts in a finished output directory."""
        import pandas as pd

        report = self.report
        report.outputs_checked += 1
        records = raw_records(out)
        keys = Counter(sample_key(r) for r in records)
        report.samples_lost += len(seen - set(keys))
        report.samples_duplicated += sum(n - 1 for n in keys.values())
        if not (out / "query_info.parquet").is_file():
            report.problems.append(f"{out}: no query_info.parquet")
            report.bad_queries += len(ADDITIONS + UNSEEN_ADDITIONS)
            return
        info = pd.read_parquet(out / "query_info.parquet").set_index("query_id")
        data = pd.read_parquet(out / "dataset" / "train.parquet")
        report.samples_duplicated += int(data.duplicated(["query_id", "response"]).sum())
        kept = data["query_id"].value_counts()
        for qid, row in info.iterrows():
            mine = [r for r in records if r["query_id"] == qid]
            distinct = len({r["response"].strip() for r in mine if r["correct"]})
            expected = distinct if pd.isna(row["target"]) else min(int(row["target"]), distinct)
            counts_agree = (row["n_samples"], row["n_corrects"], row["n_unique_corrects"]) == (
                len(mine),
                sum(bool(r["correct"]) for r in mine),
                distinct,
            )
            if kept.get(qid, 0) != expected or not counts_agree:
                report.bad_queries += 1
                report.problems.append(
                    f"{out}: {qid}: {kept.get(qid, 0)} responses, target {row['target']}, {distinct} distinct "
                    f"correct; query_info {row[['n_samples', 'n_corrects', 'n_unique_corrects']].tolist()}"
                )


def parse_kills(text: str, backends: list[str]) -> dict[str, int]:
    """``20`` (split evenly over the backends) or ``transformers=4,vllm=1``."""
    if "=" not in text:
        total = int(text)
        return {b: total // len(backends) + (i < total % len(backends)) for i, b in enumerate(backends)}
    return {name: int(n) for name, n in (part.split("=") for part in text.split(","))}


def summary_lines(report: Report) -> list[str]:
    """The figures, one per line."""
    by_backend = Counter(k.backend for k in report.kills)
    by_phase = Counter(k.phase for k in report.kills)
    gone = [k.gone_seconds for k in report.kills]
    return [
        f"kills: {len(report.kills)} ({', '.join(f'{b} {n}' for b, n in by_backend.items())}; "
        f"{', '.join(f'{p} {n}' for p, n in by_phase.items())}) over {report.outputs_checked} output directories",
        f"samples lost: {report.samples_lost}",
        f"samples duplicated: {report.samples_duplicated}",
        f"queries whose final count != min(target, distinct correct): {report.bad_queries}",
        f"orphans left: {report.orphans}"
        + (f" (job processes all gone within {max(gone):.1f} s of a kill)" if gone else ""),
        f"reruns that failed: {report.failed_runs}, hung: {report.hung_runs}; "
        f"state.json emptied: {report.states_emptied}, rebuilt on rerun: {report.states_rebuilt}",
    ]


def main() -> int:
    """Run the chaos benchmark and print its figures; exit 1 when an invariant broke."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", default="20", help="total (split over backends) or backend=N,...")
    parser.add_argument("--backends", default="vllm,transformers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--json", help="also write the figures and every kill to this file")
    args = parser.parse_args()
    kills = parse_kills(args.kills, args.backends.split(","))
    rng = random.Random(args.seed)
    report = Report()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-generate-") as tmp:
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        model = build_addition_model(root / "model")
        chaos = Chaos(root, model, rng, report)
        for backend, n in kills.items():
            chaos.run_backend(backend, n)
    if report.states_rebuilt != report.states_emptied:
        report.problems.append(
            f"{report.states_emptied} state files emptied, {report.states_rebuilt} rebuilt"
        )
    for problem in report.problems:
        print(f"problem: {problem}")
    print()
    for line in summary_lines(report):
        print(line)
    print(f"wall time: {(time.monotonic() - start) / 60:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps({**asdict(report), "summary": summary_lines(report)}, indent=1))
    broken = (
        report.samples_lost
        + report.samples_duplicated
        + report.bad_queries
        + report.orphans
        + report.failed_runs
        + report.hung_runs
        + (report.states_rebuilt != report.states_emptied)
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
