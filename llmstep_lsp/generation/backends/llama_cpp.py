"""`backend: "llama.cpp"`: a GGUF file (`model: "/path/to/x.gguf"`) served by a llama.cpp server that
the sidecar starts itself (`llama_launch` finds it, `llama_server` runs it), then sampled through the
OpenAI-compatible HTTP backend like any other server: quantised CPU inference with nothing to run
by hand.

The server gets `--parallel numSamples` slots of `contextWindow` tokens each, so one request carries
all the samples of a suggestion; llama-cpp-python's server samples one choice per request, so the
samples are asked for one per request there. A server that dies is restarted on the next use (with
back-off, `processes/restarts.py`), and a request it took down with it is sent once more to the new one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from llmstep_lsp.config.presets import Backend, GenerationConfig
from llmstep_lsp.generation.backends.gguf import is_gguf
from llmstep_lsp.generation.backends.llama_launch import find_launcher
from llmstep_lsp.generation.backends.llama_server import ManagedServer
from llmstep_lsp.generation.backends.openai_compatible import EndpointUnavailable, OpenAIGenerator
from llmstep_lsp.generation.base import Candidate, GenerationRequest, ModelUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

DEATH_WAIT_S = 2.0
"""How long a failed request waits to see whether the server exited (its exit is seen within ms)."""


class LlamaCppGenerator:
    """Samples from a GGUF file through a llama.cpp server it starts, restarts and stops.

    `load`, `generate` and `sample_texts` raise `ModelUnavailable` with the fix when the file or the
    server program is missing, when the server cannot start (the message quotes its last output
    lines once it failed repeatedly), and as the HTTP backend does for a failed request."""

    def __init__(self, config: GenerationConfig) -> None:
        self.config = config
        self.server: ManagedServer | None = None
        self._http: OpenAIGenerator | None = None

    @property
    def load_pending(self) -> bool:
        """True when the next `load` restarts a server that died (worth showing as progress)."""
        server = self.server
        return server is not None and not server.alive and server.gate.wait_reason() is None

    async def load(self) -> None:
        """Start the server unless it runs, and wait until it has loaded the model."""
        await self._ready()

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        """Ranked candidates from the served model (see `OpenAIGenerator.generate`)."""
        return await self._with_server(lambda http: http.generate(request))

    async def sample_texts(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None]]:
        """Raw samples with their mean token log-probs (see `OpenAIGenerator.sample_texts`)."""
        return await self._with_server(lambda http: http.sample_texts(request, stop, max_tokens))

    async def close(self) -> None:
        """Stop the server (its whole process group) and close the connections; a later use starts
        it again."""
        server, self.server = self.server, None
        http, self._http = self._http, None
        if http is not None:
            await http.close()
        if server is not None:
            await server.stop()

    async def _with_server(self, call: Callable[[OpenAIGenerator], Awaitable[T]]) -> T:
        http = await self._ready()
        try:
            result = await call(http)
        except EndpointUnavailable:
            server = self.server
            if server is None:
                raise
            restarted = http.config.endpoint != server.endpoint
            if not restarted and not await server.died(DEATH_WAIT_S):
                raise
            log.warning("the llama.cpp server went away during a request: asking its successor")
            result = await call(await self._ready())
        if self.server is not None:
            self.server.gate.answered()
        return result

    async def _ready(self) -> OpenAIGenerator:
        if self.server is None:
            self.server = await asyncio.to_thread(self._prepare)
        server = self.server
        endpoint = await server.ensure_running()
        if self._http is None or self._http.config.endpoint != endpoint:
            if self._http is not None:
                await self._http.close()
            self._http = self._client(server, endpoint)
        return self._http

    def _prepare(self) -> ManagedServer:
        """The server for the configured file (checked now: it may have appeared since)."""
        path = Path(self.config.model).expanduser()
        if not is_gguf(self.config.model):  # settings refuse it; a direct caller may not have
            raise ModelUnavailable(f"backend llama.cpp serves a .gguf file; 'model' is {self.config.model!r}")
        if not path.is_file():
            raise ModelUnavailable(f"no GGUF file at {path}. Fix: set 'model' to the path of a .gguf file.")
        launcher = find_launcher(self.config.llama_server)
        log.info("llama.cpp backend: %s serves %s", launcher.describe(), path)
        slots = max(1, self.config.num_samples)
        return ManagedServer(launcher, path.absolute(), slots, self.config.context_window)

    def _client(self, server: ManagedServer, endpoint: str) -> OpenAIGenerator:
        backend: Backend = "openai-chat" if self.config.format.chat else "openai"
        # No API key: the server is ours, and a key meant for another endpoint has no business here.
        config = dataclasses.replace(
            self.config, backend=backend, endpoint=endpoint, model=server.model.stem, api_key_env=""
        )
        http = OpenAIGenerator(config)
        # Known, not learned by a refused request: the slot count, or one choice per request.
        http.n_cap = server.slots if server.launcher.batches else 1
        return http
