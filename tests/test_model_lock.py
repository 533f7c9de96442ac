"""One model call at a time, even when a call is cancelled while its thread still generates."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.backends.hf_loading import LoadedModel
from llmstep_lsp.generation.backends.huggingface import TransformersGenerator

# How long a cancelled sampling thread takes to reach its next token here. Without the fix the
# second call starts its own thread within it; with the fix it cannot start before this passes.
SLOW_TOKEN_S = 1.0


class SamplerDouble:
    """Stands in for the sampling thread: counts threads running at once; the first one, once told
    to stop, finishes its current "token" (up to SLOW_TOKEN_S, or until a second thread starts)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.calls = 0
        self.first_started = threading.Event()
        self.second_started = threading.Event()

    def sample(
        self, loaded: Any, prompt: str, prefix: str, n: int | None, stop: threading.Event
    ) -> list[Any]:
        with self.lock:
            self.calls += 1
            call = self.calls
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            if call == 1:
                self.first_started.set()
                assert stop.wait(30), "the cancelled call never asked its thread to stop"
                self.second_started.wait(SLOW_TOKEN_S)
            else:
                self.second_started.set()
            return [("rfl", -0.1, -0.2)]
        finally:
            with self.lock:
                self.running -= 1


async def test_a_cancelled_generation_holds_the_model_until_its_thread_returns() -> None:
    settings, problems = Settings.from_mapping({"model": str(Path("/nonexistent-model"))})
    assert not problems
    config = settings.generation()
    assert config is not None
    generator = TransformersGenerator(config)
    generator._loaded = LoadedModel(model=None, tokenizer=None, device="cpu", dtype="float32", seq2seq=False)
    double = SamplerDouble()
    generator._sample = double.sample  # type: ignore[method-assign]
    request = GenerationRequest(goal="⊢ 2 = 2")

    first = asyncio.create_task(generator.generate(request))
    assert await asyncio.to_thread(double.first_started.wait, 30)
    first.cancel()  # the user typed: this suggestion is obsolete
    second = asyncio.create_task(generator.generate(request))
    candidates = await asyncio.wait_for(second, 30)

    assert [c.tactic for c in candidates] == ["rfl"]
    assert first.cancelled()
    assert double.calls == 2
    assert double.most_at_once == 1, "two model calls ran at once"
