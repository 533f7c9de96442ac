"""The one place that maps a configured backend to its generator class."""

from __future__ import annotations

from typing import Protocol

from llmstep_lsp.generation.base import Candidate, GenerationRequest
from llmstep_lsp.generation.presets import GenerationConfig


class ModelGenerator(Protocol):
    config: GenerationConfig

    async def load(self) -> object:
        """Prepare the model (load weights); raises `ModelUnavailable` with the fix."""

    async def generate(self, request: GenerationRequest) -> list[Candidate]: ...

    async def sample_texts(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None]]:
        """Raw samples (text, mean token log-prob) with the given stop strings: whole proofs."""
        ...


def build_model_generator(config: GenerationConfig) -> ModelGenerator:
    if config.backend in ("openai", "openai-chat"):
        from llmstep_lsp.generation.openai_backend import OpenAIGenerator

        return OpenAIGenerator(config)
    from llmstep_lsp.generation.transformers_backend import TransformersGenerator

    return TransformersGenerator(config)
