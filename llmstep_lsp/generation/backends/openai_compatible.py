"""Generation through an OpenAI-compatible HTTP endpoint: vLLM, a llama.cpp server, Ollama, a
hosted API, or one shared deployment that a whole team points its editors at.

`/completions` for completion formats, `/chat/completions` for chat (whole-proof) formats; the wire
(deadlines, size cap, retries, resting, typed errors) is `openai_http`. Servers differ in what they
accept, and the generator learns it per endpoint instead of failing:
- `n`: vLLM and OpenAI take any `n`; llama.cpp's server caps it at its slot count (`--parallel`,
  HTTP 400 "Field 'n': Value must be between 1 <= value <= 4") or takes only 1; Ollama ignores it and
  returns one choice. The cap is read from the refusal or from a short answer, and `numSamples` is
  then drawn as concurrent requests within it, topped up once when fewer choices come back.
- log-probs: read from the completions shape (`logprobs.token_logprobs`) and the chat / llama.cpp
  shape (`logprobs.content[].logprob`); a server that refuses `logprobs` is asked without them and
  its samples are scored by frequency (`ranking.scored_samples`).
- context: every prompt is cut to the context budget before it is sent (`prompt_budget`); a
  context-length refusal teaches the real window (llama.cpp's `n_ctx`, vLLM's message) and the
  request is sent once more, cut to fit.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from typing import Any

import httpx

from llmstep_lsp.config.presets import GenerationConfig
from llmstep_lsp.generation.backends.openai_http import Endpoint, EndpointUnavailable, Limits, RequestFailed
from llmstep_lsp.generation.backends.prompt_budget import fit_prompt
from llmstep_lsp.generation.base import Candidate, GenerationRequest
from llmstep_lsp.generation.formats import CHARS_PER_TOKEN
from llmstep_lsp.generation.ranking import scored_samples

__all__ = ["EndpointUnavailable", "OpenAIGenerator", "RequestFailed"]

log = logging.getLogger(__name__)

MAX_CHARS_PER_TOKEN = 16
"""A sample longer than `max_tokens` × this cannot be what the server was asked for (Lean tokens are
a few characters; 16 allows for long identifiers): it is dropped before it reaches Lean."""
BYTES_PER_TOKEN = 512
"""Answer-size cap per requested token: a chat log-prob entry with its bytes list is ~100–200 bytes."""
MIN_ANSWER_BYTES = 1 << 20

Sample = tuple[str, float | None, float | None]
"""(text, mean token log-prob, total token log-prob); the log-probs are None where the server gave none."""
Answer = tuple[Sample, bool]
"""A choice as the server sent it: the sample, and whether it was cut off at `max_tokens`."""


class OpenAIGenerator:
    """Samples from one OpenAI-compatible endpoint (`config.endpoint`), remembering what it learned
    about that server (its `n` cap, whether it gives log-probs, its context window) for later requests.

    Raises `EndpointUnavailable` while the endpoint is down (it rests) and `RequestFailed` for a
    request the server refused (the message quotes its reason); both are `ModelUnavailable`.
    """

    def __init__(self, config: GenerationConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._endpoint = Endpoint(config.endpoint, config.api_key_env, transport)
        self.n_cap: int | None = None
        """Most choices one request returns, once learned (None: not limited so far)."""
        self.logprobs = True
        """False once the server refused `logprobs`."""
        self.context_window = config.context_window
        """The model's context in tokens: the setting, or what a context-length refusal said."""
        self._chars_per_token = float(CHARS_PER_TOKEN)
        self._last_prompt = ""

    @property
    def load_pending(self) -> bool:
        """Never: nothing is loaded locally."""
        return False

    async def load(self) -> None:
        """Nothing to load locally; the endpoint is checked by the first request."""

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._endpoint.close()

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        """Candidates (prefixed with `request.prefix`) in sample order, scored (`Generator.generate`);
        see the class for errors."""
        c = self.config
        samples = []
        for text, mean, total in await self._sample(request, c.format.stop, c.max_new_tokens):
            tactic = c.format.tactic_from(text, request)
            if tactic:
                samples.append((tactic, mean, total))
        return scored_samples(samples)

    async def sample_texts(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None]]:
        """The raw sampled texts with their mean token log-probs (whole proofs use other stops)."""
        return [(text, mean) for text, mean, _ in await self._sample(request, stop, max_tokens)]

    async def _sample(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[Sample]:
        """`num_samples` samples, however many requests that takes; one retry cut to a learned window."""
        try:
            return await self._sample_within(request, stop, max_tokens)
        except RequestFailed as refused:
            if not refused.is_context_overflow:
                raise
            self._learn_context(refused, max_tokens)
            log.info("the endpoint's context is %d tokens: the prompt is cut to fit", self.context_window)
            return await self._sample_within(request, stop, max_tokens)

    async def _sample_within(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[Sample]:
        c = self.config
        budget_chars = int(max(0, self.context_window - max_tokens) * self._chars_per_token)
        file_context = min(c.context_tokens * CHARS_PER_TOKEN, budget_chars)
        self._last_prompt = fit_prompt(c.format, request, file_context, budget_chars)
        wanted = request.num_samples or c.num_samples
        # Cut-off samples count as answers here (the server did send them): a short answer means a
        # capped or ignored `n`, never samples dropped for length.
        samples = await self._draw(self._last_prompt, wanted, stop, max_tokens)
        if 0 < len(samples) < wanted and self.n_cap is None:
            # A server that ignores `n` (Ollama) or caps it silently: its cap is what it gave.
            self.n_cap = len(samples)
            log.info("the endpoint gave %d of %d samples: asking within that now", len(samples), wanted)
        if len(samples) < wanted:
            samples += await self._draw(self._last_prompt, wanted - len(samples), stop, max_tokens)
        longest = max_tokens * MAX_CHARS_PER_TOKEN
        # finish_reason "length": cut off at max_tokens, no tactic (and a repetition loop ranks high).
        cut = sum(1 for _, cut_off in samples if cut_off)
        if cut:
            log.info("dropped %d of %d samples cut off at max_tokens (%d)", cut, len(samples), max_tokens)
        kept = [s for s, cut_off in samples if not cut_off and len(s[0]) <= longest]
        if len(kept) < len(samples) - cut:
            log.warning(
                "dropped %d samples longer than %d characters", len(samples) - cut - len(kept), longest
            )
        return kept

    async def _draw(self, prompt: str, n: int, stop: tuple[str, ...], max_tokens: int) -> list[Answer]:
        """`n` samples as concurrent requests of at most `n_cap` each; learns the cap from a refusal."""
        try:
            return await self._draw_split(prompt, n, stop, max_tokens)
        except RequestFailed as refused:
            # llama.cpp: "Field 'n': Value must be between 1 <= value <= 4"; older builds: "Only one
            # completion choice is allowed".
            if (self.n_cap or n) > 1 and (refused.mentions("n") or "choice" in refused.reason.lower()):
                self.n_cap = _cap_from(refused.reason)
            elif self.logprobs and refused.mentions("logprobs"):
                self.logprobs = False
            else:
                raise
            log.info("the endpoint refused a request (%s): asking again within what it takes", refused.reason)
            return await self._draw_split(prompt, n, stop, max_tokens)

    async def _draw_split(self, prompt: str, n: int, stop: tuple[str, ...], max_tokens: int) -> list[Answer]:
        each = min(n, self.n_cap or n)
        sizes = [each] * (n // each) + ([n % each] if n % each else [])
        answers = await asyncio.gather(*(self._request(prompt, k, stop, max_tokens) for k in sizes))
        return [sample for answer in answers for sample in answer]

    async def _request(self, prompt: str, n: int, stop: tuple[str, ...], max_tokens: int) -> list[Answer]:
        c = self.config
        if c.format.chat:
            path = "/chat/completions"
            messages = [{"role": "system", "content": c.format.system}] if c.format.system else []
            body: dict[str, Any] = {"messages": [*messages, {"role": "user", "content": prompt}]}
            if self.logprobs:
                body.update(logprobs=True, top_logprobs=1)
        else:
            path = "/completions"
            body = {"prompt": prompt}
            if self.logprobs:
                body["logprobs"] = 1
            if stop:
                body["stop"] = list(stop[:4])  # the API takes at most four
        body.update(model=c.model, n=n, temperature=c.temperature, max_tokens=max_tokens)
        limits = Limits(
            c.request_timeout_s, c.request_retries, max(MIN_ANSWER_BYTES, n * max_tokens * BYTES_PER_TOKEN)
        )
        answer = await self._endpoint.post(path, body, limits)
        choices = answer.get("choices")
        if not isinstance(choices, list):
            return []
        return [
            (_sample_of(choice), choice.get("finish_reason") == "length")
            for choice in choices
            if isinstance(choice, dict)
        ]

    def _learn_context(self, refused: RequestFailed, max_tokens: int) -> None:
        window = refused.context_window
        prompt_tokens = refused.prompt_tokens
        if prompt_tokens:  # the server counted our prompt: the real characters per token
            self._chars_per_token = min(self._chars_per_token, len(self._last_prompt) / prompt_tokens)
        if window is None:  # no number given: assume the prompt must shrink to half
            window = max_tokens + int(len(self._last_prompt) / self._chars_per_token / 2)
        self.context_window = min(self.context_window, window)


def _cap_from(reason: str) -> int:
    """llama.cpp: "Field 'n': Value must be between 1 <= value <= 4, but got 10" → 4; else 1."""
    bounds = [int(bound) for bound in re.findall(r"<=\s*(\d+)", reason)]
    return max(1, min(bounds)) if bounds else 1


def _sample_of(choice: dict[str, Any]) -> Sample:
    """A choice's text (completion `text` or chat `message.content`) and its token log-probs, from
    `logprobs.token_logprobs` (completions) or `logprobs.content[].logprob` (chat, llama.cpp)."""
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else ""
    text = choice.get("text", content)
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        logprobs = {}
    values = logprobs.get("token_logprobs") or [
        t.get("logprob") for t in logprobs.get("content") or [] if isinstance(t, dict)
    ]
    numbers = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not numbers:
        return str(text or ""), None, None
    return str(text or ""), sum(numbers) / len(numbers), sum(numbers)
