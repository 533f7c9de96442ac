"""The one place that maps a configured backend to its generator class."""

from __future__ import annotations

from typing import Protocol

from llmstep_lsp.config.presets import GenerationConfig
from llmstep_lsp.generation.base import Candidate, GenerationRequest


class ModelGenerator(Protocol):
    """What the engine needs of a model backend (OpenAI-compatible HTTP, managed llama.cpp, or
    Hugging Face in-process): load, generate scored candidates, sample raw texts, close."""

    config: GenerationConfig

    async def load(self) -> object:
        """Prepare the model (load weights); raises `ModelUnavailable` with the fix."""

    @property
    def load_pending(self) -> bool:
        """True when the next `load` does slow work again (a managed server restarting after its
        death), so the caller can show progress; the first load is announced by its caller."""
        ...

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        """Scored candidates for `request`, in sample order (`Generator.generate`); raises
        `ModelUnavailable` with the fix."""
        ...

    async def sample_texts(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None]]:
        """Raw samples (text, mean token log-prob) with the given stop strings: whole proofs."""
        ...

    async def close(self) -> None:
        """Release what the backend holds (connections, a server process it started)."""


def build_model_generator(config: GenerationConfig) -> ModelGenerator:
    """The backend `config.backend` names (nothing is loaded or started until `load`)."""
    if config.backend in ("openai", "openai-chat"):
        from llmstep_lsp.generation.backends.openai_compatible import OpenAIGenerator

        return OpenAIGenerator(config)
    if config.backend == "llama.cpp":
        from llmstep_lsp.generation.backends.llama_cpp import LlamaCppGenerator

        return LlamaCppGenerator(config)
    from llmstep_lsp.generation.backends.huggingface import TransformersGenerator

    return TransformersGenerator(config)
