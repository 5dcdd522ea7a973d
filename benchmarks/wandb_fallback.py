"""What an unusable W&B server costs a job: the time to fall back to an offline run, and the whole process.

Each scenario runs a fresh process that starts a run with ``dart_trl.tracking.runs.init_wandb``
(``WANDB_MODE=online``, a made-up key), logs one value and finishes, against: ``offline`` (the
baseline, ``WANDB_MODE=offline``), ``closed port`` (nothing listens), ``silent server`` (accepts
connections, never answers) and ``HTTP 500`` (answers every request with an error). Printed: when the
warning says it gave up, the process's wall time, and that time less the offline baseline's. Target:
fallback within about 15 s, and nothing like the 90 s wait (then a crash) of a plain ``wandb.init``.
Run: ``python benchmarks/wandb_fallback.py``.
"""

from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import sys
from dart_trl.tracking.runs import finish_wandb, init_wandb

run = init_wandb(name="bench", job_type="bench", config={}, output_dir=sys.argv[1])
run.log({"value": 1})
finish_wandb(run)
"""


class _Error500(http.server.BaseHTTPRequestHandler):
    def _fail(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = _fail

    def log_message(self, *args):
        pass


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _silent_server(stop: threading.Event) -> str:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held = []

    def accept():
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
        server.close()
        for conn in held:
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}"


def _error_server(stop: threading.Event) -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Error500)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=lambda: (stop.wait(), server.shutdown()), daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def run_once(base_url: str | None, out: Path) -> tuple[float, float | None]:
    """Wall seconds of one process, and the seconds its warning says it waited (None: no fallback)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "WANDB_SILENT": "true", "WANDB_DIR": str(out)}
    if base_url:
        env.update(WANDB_MODE="online", WANDB_BASE_URL=base_url, WANDB_API_KEY="0" * 40)
    else:
        env["WANDB_MODE"] = "offline"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out / "job")], env=env, capture_output=True, text=True, timeout=300
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"the job failed:\n{done.stderr[-3000:]}")
    waited = re.search(r"W&B cannot log online .*; after (\d+\.\d) s", done.stderr)
    return seconds, float(waited.group(1)) if waited else None


def main() -> int:
    """Print the table."""
    stop = threading.Event()
    scenarios = {
        "offline": None,
        "closed port": _closed_port(),
        "silent server": _silent_server(stop),
        "HTTP 500": _error_server(stop),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, url) in enumerate(scenarios.items()):
            (Path(tmp) / str(i)).mkdir()
            rows.append((name, *run_once(url, Path(tmp) / str(i))))
    stop.set()
    baseline = rows[0][1]
    print(f"{'scenario':<15}{'fallback after':>16}{'process wall':>14}{'overhead':>10}")
    for name, seconds, waited in rows:
        fallback = "-" if waited is None else f"{waited:.1f} s"
        print(f"{name:<15}{fallback:>16}{seconds:>12.1f} s{seconds - baseline:>8.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
