"""Engine behaviour that needs no Lean: what happens when a model backend breaks mid-generation."""

from __future__ import annotations

from llmstep_lsp.engine import SuggestionEngine
from llmstep_lsp.generation import Candidate, GenerationRequest
from llmstep_lsp.protocol import Status
from llmstep_lsp.settings import Settings


class Channel:
    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []

    def show(self, severity: str, message: str) -> None:
        self.shown.append((severity, message))

    def status(self, state: Status, message: str) -> None:
        pass

    def suggestions_ready(self, result: object) -> None:
        pass


class CrashingModel:
    config = None

    async def load(self) -> None:
        pass

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        raise RuntimeError("CUDA out of memory")


async def test_a_crashing_backend_degrades_to_model_free_candidates_and_says_so_once() -> None:
    channel = Channel()
    engine = SuggestionEngine(Settings(model="", automation_tactics=("rfl", "simp")), channel)
    engine.model = engine.sources.model = CrashingModel()  # type: ignore[assignment]
    request = GenerationRequest(goal="⊢ 2 = 2")
    for _ in range(2):
        candidates = await engine.sources.all(request)
        assert [c.tactic for c in candidates] == ["rfl", "simp"]
    assert len(channel.shown) == 1 and "CUDA out of memory" in channel.shown[0][1]
