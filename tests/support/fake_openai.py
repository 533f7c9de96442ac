"""A local OpenAI-compatible HTTP server for tests (the `/wait`-style mock of llm-ls, in Python).

It answers `/v1/completions` and `/v1/chat/completions` with scripted choices, records every
request (body and headers), and has knobs for the failure modes a real deployment shows: slow
answers, a run of 503s, and being down (closed). Loopback only.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    texts: list[str] = field(default_factory=list)
    """Choice texts (completions) or message contents (chat), returned in this order."""
    logprobs: list[list[float]] | None = None
    delay_s: float = 0.0
    fail_first: int = 0
    """Answer this many requests with HTTP 503 first."""


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is what the slow-answer tests provoke


class FakeOpenAI:
    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[dict[str, Any]] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                script = fake.script
                if script.fail_first > 0:
                    script.fail_first -= 1
                    return self._send(503, {"error": {"message": "overloaded"}})
                time.sleep(script.delay_s)
                if self.path == "/v1/completions":
                    choices = [
                        {
                            "index": i,
                            "text": text,
                            "finish_reason": "stop",
                            "logprobs": _logprobs(script, i, False),
                        }
                        for i, text in enumerate(script.texts[: body.get("n", 1)])
                    ]
                elif self.path == "/v1/chat/completions":
                    choices = [
                        {
                            "index": i,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                            "logprobs": _logprobs(script, i, True),
                        }
                        for i, text in enumerate(script.texts[: body.get("n", 1)])
                    ]
                else:
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                self._send(200, {"object": "text_completion", "model": body.get("model"), "choices": choices})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _logprobs(script: Script, index: int, chat: bool) -> dict[str, Any] | None:
    if script.logprobs is None:
        return None
    values = script.logprobs[index]
    if chat:
        return {"content": [{"token": "t", "logprob": v} for v in values]}
    return {"token_logprobs": values, "tokens": ["t"] * len(values)}
