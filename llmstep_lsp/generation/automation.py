"""Model-free candidates: a short list of automation tactics, verified like any other suggestion.

They keep the product useful with no model at all (offline, no GPU memory, first start).
"""

from __future__ import annotations

from llmstep_lsp.generation.base import Candidate, GenerationRequest


class AutomationGenerator:
    """The `automationTactics` setting as a `Generator`: no model, no score."""

    def __init__(self, tactics: tuple[str, ...]) -> None:
        self.tactics = tactics

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        """The configured tactics that start with the typed prefix, in the configured order."""
        return [
            Candidate(tactic=t, score=None, source="automation")
            for t in self.tactics
            if t.startswith(request.prefix)
        ]
