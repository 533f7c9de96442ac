"""One POST to an OpenAI-compatible server, bounded in time and size, with typed outcomes.

Two kinds of failure, because they call for opposite reactions:
- `EndpointUnavailable`: the server is down, overloaded or too slow (connection errors, the
  deadline, 408/429/5xx after the retries). It is retried with back-off (or after the server's own
  `Retry-After`), and then the endpoint *rests*: every request answers at once, for a cool-down that
  grows with each failure, so an unreachable server neither freezes nor floods the editor.
- `RequestFailed`: the server answered, but refused *this* request (any other 4xx: a prompt longer
  than its context, a field it does not take) or sent an answer we cannot use (not JSON, over the size
  cap). Nothing rests; the message quotes the server's own reason. The caller may fix the request and
  ask again (`RequestFailed.context_window`, `RequestFailed.mentions`).

Deadline: `timeout_s` bounds each attempt as a whole: connect, send and the entire body (httpx's own
timeouts are per read, so a server that drips a byte every half second would never time out).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from llmstep_lsp.generation.base import ModelUnavailable

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
FIRST_BACKOFF_S = 0.5
COOLDOWN_S = (5.0, 30.0, 120.0)
REASON_CHARS = 300


class EndpointUnavailable(ModelUnavailable):
    """The endpoint did not answer usefully; generation rests for a while (the message says how long)."""


class RequestFailed(ModelUnavailable):
    """The endpoint refused this one request or answered with something unusable; it does not rest.

    `status` is the HTTP status (None when the answer itself was the problem), `reason` the server's
    own words (from `error.message`, `error`, `message`, `detail` or the body's first line).
    """

    def __init__(self, message: str, status: int | None, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason

    def mentions(self, field: str) -> bool:
        """Whether the server's reason names `field` as a word (`'n'`, `logprobs`, …)."""
        return re.search(rf"(?<![\w-]){re.escape(field)}(?![\w-])", self.reason) is not None

    @property
    def is_context_overflow(self) -> bool:
        """The prompt (with the completion budget) is longer than the model's context.

        Wordings: llama.cpp `exceed_context_size_error` "the request exceeds the available context
        size"; vLLM / OpenAI "This model's maximum context length is N tokens"; Ollama / TGI "input
        length … exceeds".
        """
        return re.search(r"context (size|length|window)|exceed|too long", self.reason, re.I) is not None

    @property
    def prompt_tokens(self) -> int | None:
        """How many tokens the server counted in our prompt, where it says (llama.cpp, vLLM)."""
        found = re.search(r'n_prompt_tokens"?\s*[:=]\s*(\d+)|(\d+) in the messages', self.reason)
        return int(found[1] or found[2]) if found else None

    @property
    def context_window(self) -> int | None:
        """The model's context in tokens, where the refusal says it (llama.cpp's `n_ctx`, vLLM's text)."""
        found = re.search(r'n_ctx"?\s*[:=]\s*(\d+)|maximum context length is (\d+)', self.reason)
        return int(found[1] or found[2]) if found else None


@dataclass(frozen=True)
class Limits:
    """Bounds of one POST: `timeout_s` per attempt (whole exchange), `retries` after the first attempt,
    `max_bytes` of answer body read before it is cut off."""

    timeout_s: float
    retries: int
    max_bytes: int


class Endpoint:
    """An OpenAI-compatible base URL (`…/v1`) with its resting state; the API key is read from the
    environment variable `api_key_env` at each request and only ever put in the `Authorization`
    header, never in a message or a log line."""

    def __init__(self, base_url: str, api_key_env: str, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        # Deadlines are ours (Limits.timeout_s around the whole exchange), not httpx's per-phase ones.
        self._client = httpx.AsyncClient(timeout=None, transport=transport)
        self._failures = 0
        self._resting_until = 0.0
        self._last_error = ""

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def post(self, path: str, body: dict[str, Any], limits: Limits) -> dict[str, Any]:
        """POST `body` as JSON to `base_url + path`; the answer's JSON object.

        Raises `EndpointUnavailable` (now resting) or `RequestFailed` (this request only).
        """
        if time.monotonic() < self._resting_until:
            raise EndpointUnavailable(self._last_error)
        url = self.base_url + path
        key = os.environ.get(self.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        problem, wait_s = "", 0.0
        for attempt in range(limits.retries + 1):
            if attempt:
                await asyncio.sleep(wait_s or FIRST_BACKOFF_S * 2 ** (attempt - 1))
            try:
                async with asyncio.timeout(limits.timeout_s):
                    status, response_headers, data = await self._exchange(url, body, headers, limits)
            except TimeoutError:
                problem, wait_s = f"no complete answer within {limits.timeout_s:g} s", 0.0
                continue
            except httpx.TransportError as err:
                problem, wait_s = f"cannot connect ({type(err).__name__})", 0.0
                continue
            except _TooLarge:
                message = f"the answer of {url} is over {limits.max_bytes} bytes and was cut off"
                log.warning("%s", message)
                raise RequestFailed(f"the model endpoint failed: {message}", None, message) from None
            if status in RETRY_STATUS:
                problem = f"HTTP {status}: {_redacted(_reason(data), key)}"
                wait_s = _retry_after_s(response_headers.get("retry-after"))
                if wait_s > limits.timeout_s:
                    self._rest(problem, url, wait_s)  # asked to come back later than we can wait now
                continue
            if status != 200:
                # Servers quote the rejected key in their 401 message ("Incorrect API key provided:
                # sk-…"); that text goes to the log and to the user's screen, the key must not.
                reason = _redacted(_reason(data), key)
                raise RequestFailed(
                    f"the model endpoint {url} refused the request: HTTP {status}: {reason}", status, reason
                )
            try:
                payload = json.loads(data)
            except ValueError:
                raise RequestFailed(
                    f"the model endpoint {url} answered with something that is not JSON", None, _reason(data)
                ) from None
            self._failures = 0
            return payload if isinstance(payload, dict) else {}
        self._rest(problem, url, wait_s)

    async def _exchange(
        self, url: str, body: dict[str, Any], headers: dict[str, str], limits: Limits
    ) -> tuple[int, httpx.Headers, bytes]:
        """Status, headers and body, read no further than `limits.max_bytes` (raises `_TooLarge`)."""
        async with self._client.stream("POST", url, json=body, headers=headers) as response:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limits.max_bytes:
                    raise _TooLarge
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    def _rest(self, problem: str, url: str, at_least_s: float) -> NoReturn:
        pause = max(COOLDOWN_S[min(self._failures, len(COOLDOWN_S) - 1)], at_least_s)
        self._failures += 1
        self._resting_until = time.monotonic() + pause
        self._last_error = (
            f"the model endpoint {url} failed: {problem}. Fix: start the server (vLLM, llama.cpp, "
            f"Ollama…) or correct 'endpoint'/'model'; if it needs a key, put it in the environment "
            f"variable {self.api_key_env}. The model is asked again in {pause:g} s."
        )
        log.warning("%s", self._last_error)
        raise EndpointUnavailable(self._last_error)


class _TooLarge(Exception):
    pass


def _retry_after_s(value: str | None) -> float:
    """RFC 9110 §10.2.3 `Retry-After`: delay-seconds or an HTTP-date; 0 when absent or unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - time.time())


def _reason(data: bytes) -> str:
    """The server's own reason: `error.message` (OpenAI, vLLM, llama.cpp), `error` as a string,
    `message`, `detail` (FastAPI: a string or a list of `{msg}`), else the body's first line."""
    text = data.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        for found in (
            error.get("message") if isinstance(error, dict) else error,
            payload.get("message"),
            payload.get("detail"),
        ):
            if isinstance(found, list):
                found = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in found)
            if found:
                # llama.cpp puts the numbers beside the message: {"n_prompt_tokens": …, "n_ctx": …}
                numbers = error.items() if isinstance(error, dict) else ()
                extra = {k: v for k, v in numbers if k.startswith("n_")}
                return (str(found) + (f" ({json.dumps(extra)})" if extra else ""))[:REASON_CHARS]
    lines = text.strip().splitlines()
    return lines[0][:REASON_CHARS] if lines else "(no reason given)"


def _redacted(text: str, secret: str | None) -> str:
    return text.replace(secret, "<API key>") if secret else text
