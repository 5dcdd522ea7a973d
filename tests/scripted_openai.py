"""A scripted OpenAI-compatible completions server on 127.0.0.1, for tests whose truth must not come
from a model: every answer it gives is known in advance.

``ScriptedServer(answer)`` serves ``POST /v1/completions`` (and ``GET /v1/models``) from a thread of
the test process, so it cannot outlive the test. ``answer(prompt, n, seed)`` returns the ``n``
completion texts for one request; a request it cannot answer (``KeyError``) gets HTTP 404 and is
counted in ``unknown``, so a test can assert that every request was one it scripted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[str, int, "int | None"], list[str]]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the client opens up to max_concurrency connections at once
    daemon_threads = True


class ScriptedServer:
    """An OpenAI-compatible ``/v1/completions`` endpoint answering from ``answer``; a context manager."""

    def __init__(self, answer: Answer, model: str = "scripted") -> None:
        self.answer, self.model = answer, model
        self.requests = 0
        self.unknown: list[str] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The ``base_url`` a recipe's openai backend points at."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections

            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt, n = body["prompt"], int(body.get("n") or 1)
                with server._lock:
                    server.requests += 1
                try:
                    texts = server.answer(prompt, n, body.get("seed"))
                except KeyError:
                    with server._lock:
                        server.unknown.append(prompt)
                    self._send(404, {"error": {"message": "no scripted answer for this prompt"}})
                    return
                assert len(texts) == n, f"scripted {len(texts)} answers for n={n}"
                choices = [
                    {"index": k, "text": text, "finish_reason": "stop", "logprobs": None}
                    for k, text in enumerate(texts)
                ]
                self._send(
                    200,
                    {
                        "id": f"cmpl-{server.requests}",
                        "object": "text_completion",
                        "created": 0,
                        "model": server.model,
                        "choices": choices,
                        "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
                    },
                )

        return Handler
