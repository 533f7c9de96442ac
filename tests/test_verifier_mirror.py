"""The verifier never writes the editor's document into Lean: only the engine sends the editor's text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmstep_lsp.lean.client import GoalState
from llmstep_lsp.text.lines import split_lines
from llmstep_lsp.text.suggestion_point import find_suggestion_point
from llmstep_lsp.verification.shadows import ShadowPool
from llmstep_lsp.verification.verifier import Verifier

URI = "file:///p/A.lean"
TEXT = "theorem t : 2 = 2 := by\r\n  sorry -- c\r\n"


class _Lean:
    """Records what a verifier sends to Lean."""

    def __init__(self, mirrored: tuple[str, int] | None) -> None:
        self._mirrored = mirrored
        self.synced: list[tuple[str, str]] = []
        self.asked: list[tuple[str, int]] = []

    def mirrored(self, uri: str) -> tuple[str, int] | None:
        return self._mirrored if uri == URI else None

    async def sync(self, uri: str, text: str) -> int:
        self.synced.append((uri, text))
        return 99

    async def plain_goal(self, uri: str, version: int, *position: Any) -> GoalState:
        self.asked.append((uri, version))
        return GoalState(("⊢ 2 = 2",))


async def goal_with(lean: _Lean) -> None:
    lines = split_lines(TEXT)
    point = find_suggestion_point(lines, 1)
    assert point is not None and point.holds_sorry
    verifier = Verifier(lean, ShadowPool(Path("/p"), 1), 5, 5)  # type: ignore[arg-type]
    assert await verifier.goal_at(URI, lines, point) == GoalState(("⊢ 2 = 2",))


async def test_a_sorry_line_is_asked_about_in_the_mirrored_document_without_a_resend() -> None:
    lean = _Lean((TEXT, 7))
    await goal_with(lean)
    assert lean.synced == [] and lean.asked == [(URI, 7)]


async def test_before_lean_holds_the_editors_text_a_shadow_is_asked_instead() -> None:
    # Rebuilding the document from its lines would lose the CRLFs and could overwrite newer text.
    for mirrored in (None, ("theorem t : 2 = 2 := by\n  sorry -- older\n", 3)):
        lean = _Lean(mirrored)
        await goal_with(lean)
        assert [uri for uri, _ in lean.synced] == [(Path("/p") / ".llmstep" / "Shadow1.lean").as_uri()]
        assert all(uri != URI for uri, _ in lean.asked)
