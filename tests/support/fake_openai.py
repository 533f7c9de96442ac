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

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation.backends.openai_compatible import OpenAIGenerator
from llmstep_lsp.generation.base import Candidate
from llmstep_lsp.generation.ranking import merge_ranked


@dataclass
class Script:
    texts: list[str] = field(default_factory=list)
    """Choice texts (completions) or message contents (chat), returned in this order."""
    logprobs: list[list[float]] | None = None
    delay_s: float = 0.0
    fail_first: int = 0
    """Answer this many requests with `fail_status` first."""
    fail_status: int = 503
    fail_body: Any = field(default_factory=lambda: {"error": {"message": "overloaded"}})
    """The error answer's JSON (a str is sent as plain text)."""
    retry_after: str | None = None
    """`Retry-After` header on the failed answers."""
    drip_s: float = 0.0
    """Send the answer a byte at a time, this long apart (a server that drips)."""
    pad_bytes: int = 0
    """Pad the answer with this many bytes of whitespace (a huge answer)."""
    finish_reasons: list[str] | None = None
    """`finish_reason` of each text (default "stop"); "length" marks a sample cut off at max_tokens."""
    max_choices: int | None = None
    """Return at most this many choices whatever `n` asks (Ollama ignores `n`)."""
    logprobs_like_chat: bool = False
    """Completions log-probs in the chat shape `content[].logprob`, as llama.cpp's server sends them."""
    max_n: int | None = None
    """Refuse `n` above this as llama.cpp's server does (its slot count, `--parallel`)."""
    context_chars: int | None = None
    """Refuse prompts longer than this as llama.cpp's server does (exceed_context_size_error)."""
    refuse: list[tuple[str, int, Any]] = field(default_factory=list)
    """(body key, status, error JSON): refuse requests that have this key, as a real server does."""
    hold: threading.Event | None = None
    """Answer nothing (not even a failure) until the test sets this: an endpoint that takes as long
    as the test wants, which no real server can be made to do on demand."""


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is what the slow-answer tests provoke


class FakeOpenAI:
    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[dict[str, Any]] = []
        self.served = 0
        """Choices served so far (the next answer starts at this text, wrapping around)."""
        self.lock = threading.Lock()
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
                if script.hold is not None:
                    script.hold.wait()
                if script.fail_first > 0:
                    script.fail_first -= 1
                    return self._send(script.fail_status, script.fail_body, script.retry_after)
                if script.max_n is not None and body.get("n", 1) > script.max_n:
                    # llama.cpp tools/server/utils.hpp, the `n` field's range check
                    message = (
                        f"Field 'n': Value must be between 1 <= value <= {script.max_n}, but got {body['n']}"
                    )
                    return self._send(
                        400, {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}
                    )
                prompt = body.get("prompt") or json.dumps(body.get("messages"))
                if script.context_chars is not None and len(prompt) > script.context_chars:
                    error = {
                        "code": 400,
                        "message": "the request exceeds the available context size, try increasing it",
                        "type": "exceed_context_size_error",
                        "n_prompt_tokens": len(prompt) // 3,
                        "n_ctx": script.context_chars // 3,
                    }
                    return self._send(400, {"error": error})
                for key, status, error in script.refuse:
                    if key in body:
                        return self._send(status, error)
                time.sleep(script.delay_s)
                n = min(body.get("n", 1), script.max_choices or body.get("n", 1))
                with fake.lock:  # concurrent requests share the script: each takes the next texts
                    picked = [(fake.served + j) % len(script.texts) for j in range(n)] if script.texts else []
                    fake.served += n
                if self.path == "/v1/completions":
                    choices = [
                        {
                            "index": i,
                            "text": text,
                            "finish_reason": (script.finish_reasons or ["stop"] * (i + 1))[i],
                            "logprobs": _logprobs(script, i, script.logprobs_like_chat),
                        }
                        for i, text in ((i, script.texts[i]) for i in picked)
                    ]
                elif self.path == "/v1/chat/completions":
                    choices = [
                        {
                            "index": i,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                            "logprobs": _logprobs(script, i, True),
                        }
                        for i, text in ((i, script.texts[i]) for i in picked)
                    ]
                else:
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                self._send(200, {"object": "text_completion", "model": body.get("model"), "choices": choices})

            def _send(self, status: int, payload: Any, retry_after: str | None = None) -> None:
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                data += b" " * fake.script.pad_bytes
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                if not fake.script.drip_s:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(fake.script.drip_s)

        return Handler


def openai_generator(endpoint: str, **settings: object) -> OpenAIGenerator:
    """The `llemma` preset's HTTP generator pointed at `endpoint`, with `settings` on top."""
    resolved, problems = Settings.from_mapping(
        {"preset": "llemma", "endpoint": endpoint, "requestTimeoutS": 2, "requestRetries": 1, **settings}
    )
    assert not problems, problems
    config = resolved.generation()
    assert config is not None
    return OpenAIGenerator(config)


def _logprobs(script: Script, index: int, chat: bool) -> dict[str, Any] | None:
    if script.logprobs is None:
        return None
    values = script.logprobs[index]
    if chat:
        return {"content": [{"token": "t", "logprob": v} for v in values]}
    return {"token_logprobs": values, "tokens": ["t"] * len(values)}


def offered(candidates: list[Candidate], theorem_name: str | None = None) -> list[str]:
    """The texts the product offers from a backend's candidates, in its order: the pipeline's one
    `merge_ranked` (filtered, duplicates merged, best first); a backend gives them as sampled."""
    return [c.tactic for c in merge_ranked(candidates, theorem_name)]
