"""The goal at a suggestion point, for an empty line whose block is ambiguous too."""

from __future__ import annotations

from llmstep_lsp.lean.client import GoalState
from llmstep_lsp.text.suggestion_point import SuggestionPoint
from llmstep_lsp.verification.verifier import CandidateVerifier


async def goal_for_point(
    verifier: CandidateVerifier, uri: str, lines: list[str], point: SuggestionPoint
) -> tuple[GoalState | None, SuggestionPoint]:
    """Lean's goals at `point`, and the point they were found at.

    An empty line after a finished `·` bullet or `case … =>` block may belong to that block (Lean
    then reports no goals there) or to an enclosing one: where the goal at the point's indentation
    is closed or missing, Lean is asked at each of `point.alternatives` in turn and the first
    indentation with an open goal wins. Raises what `goal_at` raises (LeanError).
    """
    state = await verifier.goal_at(uri, lines, point)
    if state is not None and not state.closed:
        return state, point
    for indent in point.alternatives:
        other = point.at_indent(indent)
        other_state = await verifier.goal_at(uri, lines, other)
        if other_state is not None and not other_state.closed:
            return other_state, other
    return state, point
