"""Shadow probes end with the point's declaration: later commands are never re-elaborated for a check."""

from __future__ import annotations

from llmstep_lsp.text.lines import split_lines
from llmstep_lsp.text.suggestion_point import candidate_probe_text, find_suggestion_point
from llmstep_lsp.verification.verifier import through_declaration
from tests.conftest import REPO

EXAMPLES = split_lines((REPO / "lean" / "Examples.lean").read_text())


def _point(lines: list[str], theorem: str, offset: int) -> tuple[int, list[str]]:
    line = next(i for i, t in enumerate(lines) if t.startswith(f"theorem {theorem} ")) + offset
    point = find_suggestion_point(lines, line)
    assert point is not None
    return line, through_declaration(lines, point)


def test_the_probe_stops_before_the_next_command() -> None:
    line, kept = _point(EXAMPLES, "monotone_step'", 2)
    assert kept == EXAMPLES[: len(kept)] and EXAMPLES[len(kept)].startswith("theorem subset_chain ")
    assert all(not t.strip() for t in kept[line + 1 :])  # only blank lines after the `sorry`
    point = find_suggestion_point(EXAMPLES, line)
    assert point is not None
    probe = split_lines(candidate_probe_text(kept, point, "apply h"))
    assert probe[line : line + 2] == ["  apply h", "  sorry"]
    assert not any(t.startswith("theorem ") for t in probe[line:])


def test_the_rest_of_the_proof_and_indented_comments_are_kept_until_the_declaration_ends() -> None:
    lines = [
        "theorem a : P := by",
        "  intro h",
        "  ",
        "-- a comment at column 0 inside the proof",
        "  · exact h",
        "",
        "theorem b : Q := by",
        "  rfl",
    ]
    _, kept = _point(lines, "a", 2)
    assert kept == lines[:6]


def test_the_last_declaration_keeps_the_whole_file() -> None:
    last = next(t for t in reversed(EXAMPLES) if t.startswith("theorem ")).split()[1]
    offset = len(EXAMPLES) - 1 - next(i for i, t in enumerate(EXAMPLES) if t.startswith(f"theorem {last} "))
    _, kept = _point(EXAMPLES, last, offset)
    assert kept == EXAMPLES
