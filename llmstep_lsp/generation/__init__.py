"""Candidate tactics: the `Generator` interface, model backends and model-free candidates."""

from llmstep_lsp.generation.base import Candidate, Generator, ModelUnavailable

__all__ = ["Candidate", "Generator", "ModelUnavailable"]
