"""Every tactic position is a point, and the point knows the span an edit replaces.

Bullets, `case`, `next`, nested `have … := by`, `calc` steps, one-line `by`, `fun x => by`, `<;>`;
what an edit leaves is checked by applying it with the reference model (tests/support/lsp_text.py).
"""

from __future__ import annotations

import pytest

from llmstep_lsp.lean.client import GoalState
from llmstep_lsp.text.suggestion_point import (
    Declaration,
    SuggestionPoint,
    candidate_probe_text,
    find_suggestion_point,
    goal_probe_text,
)
from llmstep_lsp.verification.goals import goal_for_point
from tests.support.lsp_text import apply_utf16


def edited(lines: list[str], line: int, tactic: str) -> str:
    """Line `line` after the point's edit for `tactic` (as an editor applies it)."""
    point = find_suggestion_point(lines, line)
    assert point is not None
    start, end = point.span
    text = lines[line]
    units = [len(text[:i].encode("utf-16-le")) // 2 for i in (start, end)]
    return apply_utf16(text, (0, units[0]), (0, units[1]), point.replacement(tactic))


@pytest.mark.parametrize(
    ("line", "tactic", "after"),
    [
        ("theorem t : 2 + 2 = 4 := by sorry", "rfl", "theorem t : 2 + 2 = 4 := by rfl"),
        ("theorem t : 2 + 2 = 4 := by simp -- try", "decide", "theorem t : 2 + 2 = 4 := by decide -- try"),
        ("  exact fun x => by sorry", "simp", "  exact fun x => by simp"),
        ("  constructor <;> sorry", "simp", "  constructor <;> simp"),
        ("  sorry <;> simp -- later", "constructor", "  constructor <;> simp -- later"),
        ("  sorry -- TODO: the general case", "rfl", "  rfl -- TODO: the general case"),
        ("  simp; ring", "simp only [h]", "  simp only [h]; ring"),
        ("  · sorry -- 𝓝 here", "exact hp", "  · exact hp -- 𝓝 here"),
        ("  case h => sorry", "simp", "  case h => simp"),
        ("  next => admit", "simp", "  next => simp"),
        ('  exact "a -- b"', 'exact "c"', '  exact "c"'),
        ("  have h : p := by sorry", "exact hp", "  have h : p := by exact hp"),
        ("    _ = c := by sorry", "exact hbc", "    _ = c := by exact hbc"),
        ("  exa", "exact h", "  exact h"),
    ],
)
def test_an_edit_replaces_the_tactic_and_keeps_the_rest_of_the_line(
    line: str, tactic: str, after: str
) -> None:
    lines = ["theorem above : p := by", line] if not line.startswith("theorem") else [line]
    assert edited(lines, len(lines) - 1, tactic) == after


def test_a_proof_on_the_declarations_line_is_a_point_at_the_sorry() -> None:
    lines = ["theorem t : 2 + 2 = 4 := by sorry", "", "theorem u : True := trivial"]
    point = find_suggestion_point(lines, 0)
    assert point is not None and point.holds_sorry and point.prefix == ""
    assert point.tactic_column_utf16 == len("theorem t : 2 + 2 = 4 := by ")
    probe = candidate_probe_text(lines, point, "rfl").split("\n")
    # the block continues in the column of its first tactic, as Lean lays `by` blocks out
    assert probe[:2] == [
        "theorem t : 2 + 2 = 4 := by rfl",
        " " * len("theorem t : 2 + 2 = 4 := by ") + "sorry",
    ]


def test_a_one_line_by_of_a_declaration_has_its_tactic_as_the_typed_prefix() -> None:
    point = find_suggestion_point(["example : 1 = 1 := by exa"], 0)
    assert point is not None and (point.prefix, point.indent) == ("exa", "example : 1 = 1 := by ")


def test_a_sorry_inside_a_term_is_not_a_tactic_position_of_its_own() -> None:
    point = find_suggestion_point(["theorem t : p := by", "  exact f sorry"], 1)
    assert point is not None and point.prefix == "exact f sorry" and not point.holds_sorry
    assert find_suggestion_point(["def x : Nat := sorry"], 0) is None
    assert find_suggestion_point(["theorem t : p := by"], 0) is None


def test_a_sorry_after_the_combinator_is_asked_about_in_place() -> None:
    lines = ["theorem t : p ∧ p := by", "  constructor <;> sorry", "  done"]
    point = find_suggestion_point(lines, 1)
    assert point is not None and point.holds_sorry
    assert goal_probe_text(lines, point).split("\n")[1] == "  constructor <;> sorry"
    # a later tactic of the block continues at the line's own indentation
    assert candidate_probe_text(lines, point, "exact hp").split("\n")[1:3] == [
        "  constructor <;> exact hp",
        "  sorry",
    ]


NESTED = [
    "theorem t : p ∧ q := by",  # 0
    "  constructor",  # 1
    "  · exact hp",  # 2
    "",  # 3: after a finished bullet
    "  case right =>",  # 4
    "    have h : q := by",  # 5
    "      sorry",  # 6
    "",  # 7: inside `case right`, after the `have` block
    "    exact h",  # 8
]


def test_an_empty_line_after_a_finished_bullet_may_belong_to_the_outer_block() -> None:
    point = find_suggestion_point(NESTED, 3)
    assert point is not None and point.indent == "    "  # inside the bullet, as the line above
    assert "  " in point.alternatives  # …or the outer block, where `case right` is open


def test_an_empty_line_before_a_less_indented_tactic_belongs_to_its_block() -> None:
    point = find_suggestion_point(NESTED, 7)
    assert point is not None and point.indent == "      "  # continuing the `have` block above…
    assert point.alternatives[0] == "    "  # …or the block of `exact h` below, asked next


def test_nested_have_by_and_case_lines_are_points() -> None:
    have = find_suggestion_point(NESTED, 6)
    assert have is not None and have.holds_sorry and have.indent == "      "
    assert find_suggestion_point(NESTED, 5) is None  # the `have … := by` opens a block below
    assert find_suggestion_point(NESTED, 4) is None  # `case right =>` too


class _Goals:
    """A verifier that reports goals by indentation, as Lean would on NESTED's line 3."""

    def __init__(self, by_indent: dict[str, GoalState | None]) -> None:
        self.by_indent = by_indent
        self.asked: list[str] = []

    async def goal_at(self, uri: str, lines: list[str], point: SuggestionPoint) -> GoalState | None:
        self.asked.append(point.indent)
        return self.by_indent.get(point.indent)


async def test_the_goal_of_an_empty_line_is_the_open_one_among_its_possible_blocks() -> None:
    point = find_suggestion_point(NESTED, 3)
    assert point is not None
    verifier = _Goals({"    ": GoalState(()), "  ": GoalState(("case right\n⊢ q",))})
    state, chosen = await goal_for_point(verifier, "file:///A.lean", NESTED, point)  # type: ignore[arg-type]
    assert state == GoalState(("case right\n⊢ q",)) and chosen.indent == "  "
    assert chosen.replacement("exact hq") == "  exact hq" and chosen.span == (0, 0)
    assert verifier.asked == ["    ", "  "]


async def test_an_open_goal_at_the_first_indentation_asks_nothing_more() -> None:
    point = find_suggestion_point(NESTED, 3)
    assert point is not None
    verifier = _Goals({"    ": GoalState(("⊢ p",))})
    state, chosen = await goal_for_point(verifier, "file:///A.lean", NESTED, point)  # type: ignore[arg-type]
    assert state == GoalState(("⊢ p",)) and chosen is point and verifier.asked == ["    "]


@pytest.mark.parametrize(
    ("line", "tactic", "asked"),
    [
        # The edit keeps the tail, so Lean must check the tactic with it: `constructor` alone may
        # leave goals that `<;> simp` closes, or be valid where `constructor <;> simp` fails.
        ("  sorry <;> simp -- later", "constructor", "  constructor <;> simp"),
        ("  sorry; rfl", "constructor", "  constructor; rfl"),
        ("  sorry -- only a comment after it", "rfl", "  rfl"),
    ],
)
def test_lean_checks_the_line_the_editor_will_hold(line: str, tactic: str, asked: str) -> None:
    lines = ["theorem t : p ∧ p := by", line, "  done"]
    point = find_suggestion_point(lines, 1)
    assert point is not None
    assert candidate_probe_text(lines, point, tactic).split("\n")[1] == asked
    assert edited(lines, 1, tactic).startswith(asked), "what Lean checked is what the edit leaves"


# --- the enclosing declaration, found once with the point -------------------------------------


def test_a_proof_on_the_declarations_own_line_belongs_to_it_with_no_text_before() -> None:
    lines = ["import Mathlib", "", "@[simp] theorem two : 2 = 2 := by rfl"]
    point = find_suggestion_point(lines, 2)
    assert point is not None and point.declaration == Declaration(2, "two", "")


def test_a_line_inside_an_example_belongs_to_it_without_a_name() -> None:
    lines = ["theorem before : True := trivial", "", "example (n : ℕ) : n + 0 = n := by", "  intro"]
    lines.append("  sorry")
    point = find_suggestion_point(lines, 4)
    assert point is not None
    assert point.declaration == Declaration(2, None, "example (n : ℕ) : n + 0 = n := by\n  intro")


def test_a_point_outside_any_declaration_has_none() -> None:
    lines = ["#check (show True by", "  exact trivial)"]
    point = find_suggestion_point(lines, 1)
    assert point is not None and point.declaration is None


def test_the_declaration_stays_with_the_point_read_at_another_indentation() -> None:
    lines = ["theorem t : p ∧ q := by", "  constructor", "  · exact hp", "    "]
    point = find_suggestion_point(lines, 3)
    assert point is not None and point.declaration is not None
    assert point.at_indent("  ").declaration == point.declaration
