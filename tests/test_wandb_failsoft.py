"""W&B never costs a run: with the server unreachable (a closed port, or a server that accepts connections
and never answers) `eval`, `generate` and `sft` finish, keep their outputs and log offline in their output
directory, saying once how to upload the run; a job started again keeps its W&B run id."""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import sys
import threading
import time

import pytest
import yaml
from conftest import REPO_ROOT, free_port, run_job

from dart_trl.tracking.offline import find_runs, read_run
from dart_trl.tracking.runs import RUN_ID_FILE

FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"
INIT_SCRIPT = """
import sys
from dart_trl.tracking.runs import finish_wandb, init_wandb

run = init_wandb(name="probe", job_type="probe", config={"x": 1}, output_dir=sys.argv[1])
run.log({"metric": 0.5})
finish_wandb(run)
"""


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte; yields its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:  # the 0.2 s accept timeout, or the socket closed at teardown
                continue
            held.append(conn)

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture(params=["closed_port", "silent_server"])
def dead_server(request):
    """The URL of a W&B server that cannot be used: nothing listens there, or nothing ever answers."""
    if request.param == "closed_port":
        return f"http://127.0.0.1:{free_port()}"
    return request.getfixturevalue("silent_server")


def online_env(base_url: str) -> dict[str, str]:
    """The environment of a job told to log online to ``base_url`` with a made-up key."""
    env = {**os.environ, "WANDB_MODE": "online", "WANDB_BASE_URL": base_url, "WANDB_API_KEY": FAKE_KEY}
    env.pop("WANDB_DIR", None)  # the fallback run goes to the job's output directory all the same
    return {**env, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def check_offline_fallback(output, out_dir, *, runs: int = 1) -> list:
    """One warning line per run naming `wandb sync <run dir>`, the run dirs under `out_dir/wandb`; the runs."""
    warnings = [line for line in output.splitlines() if "wandb sync" in line]
    run_dirs = find_runs(out_dir / "wandb")
    assert len(run_dirs) == runs, f"expected {runs} offline runs in {out_dir}/wandb, found {run_dirs}"
    assert len(warnings) == 1, output[-3000:]
    assert warnings[0].startswith("dart-trl: warning: W&B cannot log online")
    assert warnings[0].endswith(f"wandb sync {run_dirs[-1]}")
    waited = float(re.search(r"after (\d+\.\d) s", warnings[0]).group(1))
    assert waited < 20, f"gave up on the server after {waited} s"
    stored = json.loads((out_dir / RUN_ID_FILE).read_text())["id"]
    read = [read_run(d) for d in run_dirs]
    assert all(r.run_id == stored for r in read)
    return read


def test_init_goes_offline_quickly_and_keeps_the_run_id(tmp_path, dead_server):
    script = tmp_path / "init.py"
    script.write_text(INIT_SCRIPT)
    out = tmp_path / "out"
    (tmp_path / "wandb-offline").mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "WANDB_DIR": str(tmp_path / "wandb-offline")}
    started = time.monotonic()
    baseline = run_job([sys.executable, str(script), str(tmp_path / "baseline")], timeout=120, env=env)
    baseline_seconds = time.monotonic() - started
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    for attempt in (1, 2):  # a job started again logs to the same run
        started = time.monotonic()
        done = run_job(
            [sys.executable, str(script), str(out)], timeout=120, env=online_env(dead_server), cwd=tmp_path
        )
        seconds = time.monotonic() - started
        assert done.returncode == 0, done.stderr[-3000:]
        (run,) = check_offline_fallback(done.stdout + done.stderr, out, runs=attempt)[-1:]
        assert run.series("metric") == [0.5] and run.config["x"] == 1
        # The old path waited 90 s for wandb.init and then died; now the fallback costs a few seconds.
        assert seconds - baseline_seconds < 20, f"{seconds:.1f} s against {baseline_seconds:.1f} s offline"


PARENT_SCRIPT = """
import json, os, subprocess, sys
import wandb

held = wandb.init(project="dart-trl", id="heldrun1", dir=sys.argv[1], mode="offline")  # the job's id, held
inherited = "WANDB_SERVICE" in os.environ  # what wandb hands to child processes
child = subprocess.run([sys.executable, *sys.argv[2:]], capture_output=True, text=True, timeout=120)
held.finish()
print(json.dumps({"inherited": inherited, "returncode": child.returncode, "stderr": child.stderr}))
"""


def test_a_job_keeps_its_run_id_while_its_parent_holds_a_wandb_service(tmp_path):
    """A job started by a process that has a W&B run of its own (a notebook, a test, the demo) gets its own
    W&B service: in the parent's service a killed earlier attempt of the job would keep the run id "in use"
    and the restarted job could not resume its run."""
    (tmp_path / "init.py").write_text(INIT_SCRIPT)
    (tmp_path / "parent.py").write_text(PARENT_SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    (out / RUN_ID_FILE).write_text(json.dumps({"id": "heldrun1"}))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "WANDB_DIR": str(tmp_path)}
    env.pop("WANDB_SERVICE", None)
    command = [
        sys.executable,
        str(tmp_path / "parent.py"),
        str(tmp_path),
        str(tmp_path / "init.py"),
        str(out),
    ]
    done = run_job(command, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["inherited"], "the parent did not hand its W&B service on: this test checks nothing"
    assert child["returncode"] == 0 and "warning" not in child["stderr"], child["stderr"][-3000:]
    runs = [read_run(path) for path in find_runs(tmp_path)]
    assert any(run.run_id == "heldrun1" and run.series("metric") == [0.5] for run in runs)


class VanishingWandbServer(http.server.BaseHTTPRequestHandler):
    """Just enough of the W&B API for ``wandb.init`` to go online (run upsert, file stream, file uploads);
    after a request to ``/vanish`` it answers nothing more, like a server that went away mid-run."""

    protocol_version = "HTTP/1.1"
    vanished: threading.Event

    def _reply(self, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _silent(self) -> bool:
        if self.vanished.is_set():
            threading.Event().wait(120)  # hold the connection without answering (a bounded daemon thread)
            return True
        return False

    def do_GET(self):
        if not self._silent():
            self._reply({})

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._silent():
            self._reply({})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/vanish":
            self._reply({})
            self.vanished.set()
            return
        if self._silent():
            return
        request = json.loads(raw or b"{}") if self.path.startswith("/graphql") else {}
        query, variables = request.get("query", ""), request.get("variables") or {}
        if "UpsertBucket" in query:
            name = variables.get("name") or "run"
            project = {
                "id": "cA==",
                "name": variables.get("modelName") or "p",
                "entity": {"id": "ZQ==", "name": "e"},
            }
            bucket = {"id": "YnVja2V0", "name": name, "displayName": name, "config": "{}", "project": project}
            self._reply({"data": {"upsertBucket": {"bucket": bucket, "inserted": True}}})
        elif "createRunFiles" in query:
            base = f"http://{self.headers['Host']}/upload/"
            files = [{"name": f, "uploadUrl": base + f} for f in variables.get("files") or []]
            self._reply({"data": {"createRunFiles": {"runID": "cnVu", "uploadHeaders": [], "files": files}}})
        elif "serverInfo" in query:
            self._reply({"data": {"serverInfo": {"features": []}}})
        else:  # RunResumeStatus (no such run yet), organization look-ups, the file stream
            self._reply({"data": {"model": None, "entity": None}} if query else {"exitcode": None})

    def log_message(self, *args):
        pass


@pytest.fixture
def vanishing_server():
    """A W&B stand-in on 127.0.0.1 that serves a run until told to vanish; yields its URL."""
    handler = type("Handler", (VanishingWandbServer,), {"vanished": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


VANISH_SCRIPT = """
import sys, time, urllib.request
from dart_trl.tracking.runs import finish_wandb, init_wandb

run = init_wandb(name="probe", job_type="probe", config={"x": 1}, output_dir=sys.argv[1])
print("mode", run.settings.mode, run.id, flush=True)
for step in range(3):
    run.log({"metric": step})
urllib.request.urlopen(urllib.request.Request(sys.argv[2] + "/vanish", method="POST"), timeout=10).close()
started = time.monotonic()
finish_wandb(run)
print(f"finished in {time.monotonic() - started:.1f} s", flush=True)
print("run dir", run.dir.rsplit("/", 1)[0], flush=True)
"""


@pytest.mark.slow
def test_server_vanishing_mid_run_costs_at_most_the_finish_timeout(tmp_path, vanishing_server):
    from dart_trl.tracking.runs import FINISH_TIMEOUT

    script = tmp_path / "vanish.py"
    script.write_text(VANISH_SCRIPT)
    env = {**online_env(vanishing_server), "WANDB_DIR": str(tmp_path)}
    command = [sys.executable, str(script), str(tmp_path / "out"), vanishing_server]
    done = run_job(command, timeout=FINISH_TIMEOUT + 120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("mode online"), (
        done.stdout + done.stderr[-3000:]
    )  # it was online, then lost
    seconds = float(re.search(r"finished in (\d+\.\d) s", done.stdout).group(1))
    assert seconds < FINISH_TIMEOUT + 15
    run_dir = re.search(r"run dir (\S+)", done.stdout).group(1)
    run = read_run(run_dir)  # what was not uploaded is on disk, for `wandb sync`
    assert run.series("metric") == [0, 1, 2]


def write_yaml(path, values):
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return str(path)


def test_eval_keeps_results_and_one_run_across_restarts(tmp_path, tiny_model, silent_server):
    rows = [
        {"question": "What is 2 + 2?", "answer": "2 + 2\n#### 4"},
        {"question": "1 + 5?", "answer": "#### 6"},
    ]
    (tmp_path / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    recipe = write_yaml(
        tmp_path / "eval.yaml",
        {
            "model_name_or_path": str(tiny_model),
            "benchmarks": [{"name": "gsm8k", "data_files": str(tmp_path / "gsm8k.jsonl")}],
            "backend": "transformers",
            "max_tokens": 4,
            "output_dir": str(out),
            "report_to": "wandb",
        },
    )
    command = [sys.executable, "-m", "dart_trl.cli", "eval", recipe]
    closed = f"http://127.0.0.1:{free_port()}"
    for attempt, server in enumerate([closed, silent_server], start=1):
        done = run_job(command, timeout=300, env=online_env(server), cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads((out / "results.json").read_text())
        run = check_offline_fallback(done.stdout + done.stderr, out, runs=attempt)[-1]
        assert run.summary["bench/gsm8k/accuracy"] == pytest.approx(
            results["benchmarks"]["gsm8k"]["accuracy"]
        )
        assert results["wandb"]["id"] == run.run_id


@pytest.mark.slow
def test_generate_finishes_offline(tmp_path, tiny_model, dead_server):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(json.dumps({"id": f"q{i}", "q": f"{i}+1=?", "a": str(i + 1)}) + "\n" for i in range(3))
    )
    out = tmp_path / "out"
    recipe = write_yaml(
        tmp_path / "dars.yaml",
        {
            "model_name_or_path": str(tiny_model),
            "strategy": "vrt",
            "max_trials": 2,
            "probe_samples": 0,
            "pools": [{"source": str(pool), "name": "toy", "id": "id", "query": "q", "answer": "a"}],
            "prompt_template": "raw",
            "output_dir": str(out),
            "backend": "transformers",
            "max_tokens": 4,
            "report_to": "wandb",
        },
    )
    command = [sys.executable, "-m", "dart_trl.cli", "generate", recipe]
    done = run_job(command, timeout=300, env=online_env(dead_server), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "query_info.parquet").is_file() and (out / "dataset").is_dir()
    (run,) = check_offline_fallback(done.stdout + done.stderr, out)
    assert run.series("dars/progress/questions_done")[-1] == 3 and run.summary["dars/samples"] == 6


@pytest.mark.slow
def test_sft_finishes_offline(tmp_path, tiny_model, dead_server):
    data = tmp_path / "train.jsonl"
    rows = [{"query": f"What is {i} + 1?", "response": f"It is {i + 1}."} for i in range(8)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "model"
    command = [
        sys.executable, "-m", "dart_trl.cli", "sft", str(REPO_ROOT / "recipes" / "sft_tiny_cpu.yaml"),
        "--model_name_or_path", str(tiny_model),
        "--dataset_name", str(data),
        "--output_dir", str(out),
        "--max_length", "128",
        "--max_steps", "2",
        "--report_to", "wandb",
    ]  # fmt: skip
    done = run_job(command, timeout=300, env=online_env(dead_server), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "model.safetensors").is_file()
    (run,) = check_offline_fallback(done.stdout + done.stderr, out)
    assert len(run.series("train/loss")) == 2 and run.job_type == "sft"
