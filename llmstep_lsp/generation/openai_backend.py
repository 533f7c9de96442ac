"""Generation through an OpenAI-compatible HTTP endpoint: vLLM, a llama.cpp server, Ollama, a
hosted API, or one shared deployment that a whole team points its editors at.

`/completions` for completion formats, `/chat/completions` for chat (whole-proof) formats. The API
key comes from the environment variable named in the settings and only ever goes into the
`Authorization` header: never into settings, logs or messages. Every request has a deadline and
failed attempts are retried with backoff; when the endpoint stays unreachable the generator rests
for a cool-down that grows with each failure, answering at once with `EndpointUnavailable`, so an
unreachable server neither freezes nor floods the editor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, NoReturn

import httpx

from llmstep_lsp.generation.base import Candidate, GenerationRequest, ModelUnavailable
from llmstep_lsp.generation.formats import CHARS_PER_TOKEN, tail_at_line
from llmstep_lsp.generation.presets import GenerationConfig
from llmstep_lsp.generation.ranking import from_samples

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
FIRST_BACKOFF_S = 0.5
COOLDOWN_S = (5.0, 30.0, 120.0)


class EndpointUnavailable(ModelUnavailable):
    """The endpoint did not answer usefully; generation rests for a while."""


class OpenAIGenerator:
    def __init__(self, config: GenerationConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._client = httpx.AsyncClient(timeout=config.request_timeout_s, transport=transport)
        self._failures = 0
        self._resting_until = 0.0
        self._last_error = ""

    async def load(self) -> None:
        """Nothing to load locally; the endpoint is checked by the first request."""

    async def close(self) -> None:
        await self._client.aclose()

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        c = self.config
        samples = []
        for text, mean, total in await self._sample(request, c.format.stop, c.max_new_tokens):
            tactic = c.format.tactic_from(text, request)
            if tactic:
                samples.append((tactic, mean, total))
        return from_samples(samples, request.theorem_name, request.rejected)

    async def sample_texts(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None]]:
        """The raw sampled texts with their mean token log-probs (whole proofs use other stops)."""
        return [(text, mean) for text, mean, _ in await self._sample(request, stop, max_tokens)]

    async def _sample(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None, float | None]]:
        """Sampled texts with their mean and total token log-probs (None: the endpoint gave none)."""
        if time.monotonic() < self._resting_until:
            raise EndpointUnavailable(self._last_error)
        c = self.config
        prompt = c.format.render(request, tail_at_line(request.context, c.context_tokens * CHARS_PER_TOKEN))
        if c.format.chat:
            path = "/chat/completions"
            messages = [{"role": "system", "content": c.format.system}] if c.format.system else []
            body: dict[str, Any] = {
                "messages": [*messages, {"role": "user", "content": prompt}],
                "logprobs": True,
            }
        else:
            path = "/completions"
            body = {"prompt": prompt, "logprobs": 1}
            if stop:
                body["stop"] = list(stop[:4])  # the API takes at most four
        n = request.num_samples or c.num_samples
        body.update(model=c.model, n=n, temperature=c.temperature, max_tokens=max_tokens)
        response = await self._post(path, body)
        return [_choice_text_and_score(choice, c.format.chat) for choice in response.get("choices") or []]

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.config.endpoint.rstrip("/") + path
        headers = {}
        if key := os.environ.get(self.config.api_key_env):
            headers["Authorization"] = f"Bearer {key}"
        problem = ""
        for attempt in range(self.config.request_retries + 1):
            if attempt:
                await asyncio.sleep(FIRST_BACKOFF_S * 2 ** (attempt - 1))
            try:
                response = await self._client.post(url, json=body, headers=headers)
            except httpx.TimeoutException:
                problem = f"no answer within {self.config.request_timeout_s:g} s"
                continue
            except httpx.TransportError as err:
                problem = f"cannot connect ({type(err).__name__})"
                continue
            if response.status_code in RETRY_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                # Servers quote the rejected key in their 401 message ("Incorrect API key provided:
                # sk-…"); that text goes to the log and to the user's screen, the key must not.
                self._rest(f"HTTP {response.status_code}: {_redacted(_error_text(response), key)}", url)
            try:
                payload = response.json()
            except ValueError:
                self._rest("the answer is not JSON", url)
            self._failures = 0
            return payload if isinstance(payload, dict) else {}
        self._rest(problem, url)

    def _rest(self, problem: str, url: str) -> NoReturn:
        pause = COOLDOWN_S[min(self._failures, len(COOLDOWN_S) - 1)]
        self._failures += 1
        self._resting_until = time.monotonic() + pause
        self._last_error = (
            f"the model endpoint {url} failed: {problem}. Fix: start the server (vLLM, llama.cpp, "
            f"Ollama…) or correct 'endpoint'/'model'; if it needs a key, put it in the environment "
            f"variable {self.config.api_key_env}. Retrying in {pause:g} s."
        )
        log.warning("%s", self._last_error)
        raise EndpointUnavailable(self._last_error)


def _choice_text_and_score(choice: dict[str, Any], chat: bool) -> tuple[str, float | None, float | None]:
    logprobs = choice.get("logprobs") or {}
    if chat:
        text = (choice.get("message") or {}).get("content") or ""
        values = [t.get("logprob") for t in logprobs.get("content") or [] if isinstance(t, dict)]
    else:
        text = choice.get("text") or ""
        values = list(logprobs.get("token_logprobs") or [])
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    if not numbers:
        return text, None, None
    return text, sum(numbers) / len(numbers), sum(numbers)


def _redacted(text: str, secret: str | None) -> str:
    return text.replace(secret, "<API key>") if secret else text


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = response.text
    return str(message or "")[:200]
