"""Candidate tactics: the `Generator` interface, model backends and model-free candidates."""

from llmstep_lsp.generation.base import Candidate, GenerationRequest, Generator, ModelUnavailable

__all__ = ["Candidate", "GenerationRequest", "Generator", "ModelUnavailable"]
