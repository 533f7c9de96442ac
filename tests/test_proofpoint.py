"""Where a suggestion goes, and the shadow texts Lean is asked about."""

from __future__ import annotations

from llmstep_lsp.text.lines import split_lines
from llmstep_lsp.text.suggestion_point import (
    candidate_probe_text,
    find_suggestion_point,
    goal_probe_text,
)

DOC = """import Mathlib

theorem foo (n : ℕ) : n + 0 = n := by
  intro h
  exa
  simp at h

theorem bar : True := by

theorem baz (x : ℝ) :
    x = x := by
  sorry
"""


def test_typed_text_is_the_prefix_and_keeps_its_indentation() -> None:
    lines = split_lines(DOC)
    point = find_suggestion_point(lines, 4)
    assert point is not None
    assert (point.prefix, point.indent, point.holds_sorry) == ("exa", "  ", False)


def test_sorry_line_has_empty_prefix() -> None:
    lines = split_lines(DOC)
    point = find_suggestion_point(lines, 11)
    assert point is not None and point.holds_sorry and point.prefix == ""


def test_empty_line_after_by_gets_the_declarations_indentation_plus_two() -> None:
    lines = split_lines(DOC)
    point = find_suggestion_point(lines, 8)
    assert point is not None and point.indent == "  " and point.prefix == ""


def test_commands_and_out_of_range_lines_are_not_suggestion_points() -> None:
    lines = split_lines(DOC)
    assert find_suggestion_point(lines, 0) is None  # import
    assert find_suggestion_point(lines, 2) is None  # theorem … := by
    assert find_suggestion_point(lines, 99) is None
    assert find_suggestion_point(["", "  x"], 1) is None  # no `by` above


def test_goal_probe_puts_sorry_in_the_lines_place() -> None:
    lines = split_lines(DOC)
    point = find_suggestion_point(lines, 4)
    assert point is not None
    probe = split_lines(goal_probe_text(lines, point))
    assert probe[4] == "  sorry"
    assert probe[5] == "  simp at h" and len(probe) == len(lines)


def test_candidate_probe_drops_the_rest_of_the_block_only() -> None:
    lines = split_lines(DOC)
    point = find_suggestion_point(lines, 4)
    assert point is not None
    probe = split_lines(candidate_probe_text(lines, point, "exact h"))
    assert probe[3:7] == ["  intro h", "  exact h", "  sorry", "theorem bar : True := by"]


def test_lsp_line_breaks_only() -> None:
    # U+2028 is not a line break for LSP (nor for Lean); CRLF and CR are.
    assert split_lines("a\u2028b\r\nc\rd") == ["a\u2028b", "c", "d"]


STRUCTURED = [
    "theorem t : p ∧ q := by",
    "  constructor",
    "  · exa",
    "    simp",
    "  · simp",
    "  case h => sorry",
    "  next =>",
    "",
    "  have hp : p := by",
    "",
]


def test_a_focusing_dot_stays_and_its_block_continues_under_the_tactic() -> None:
    point = find_suggestion_point(STRUCTURED, 2)
    assert point is not None
    assert (point.indent, point.prefix, point.line_with("exact hp")) == ("  · ", "exa", "  · exact hp")
    probe = split_lines(candidate_probe_text(STRUCTURED, point, "exact hp"))
    # the bullet's own block is replaced; the next bullet (another goal) stays
    assert probe[2:5] == ["  · exact hp", "    sorry", "  · simp"]
    assert split_lines(goal_probe_text(STRUCTURED, point))[2] == "  · sorry"


def test_case_and_next_lines_keep_their_tags() -> None:
    point = find_suggestion_point(STRUCTURED, 5)
    assert point is not None and point.holds_sorry
    assert point.line_with("simp") == "  case h => simp"
    probe = split_lines(candidate_probe_text(STRUCTURED, point, "simp"))
    assert probe[5:7] == ["  case h => simp", " " * len("  case h => ") + "sorry"]
    after_next = find_suggestion_point(STRUCTURED, 7)
    assert after_next is not None and after_next.indent == "    "  # one step in after `=>`


def test_an_empty_line_after_have_by_is_indented_under_the_have() -> None:
    point = find_suggestion_point(STRUCTURED, 9)
    assert point is not None and point.indent == "    "


CALC = [
    "theorem calc_chain (a b c : ℕ) (hab : a = b) (hbc : b = c) : a = c := by",
    "  calc a = b := by",
    "",
    "    _ = c := by",
    "",
    "  done",
]


def test_a_calc_step_block_goes_deeper_than_the_steps_and_keeps_the_next_step() -> None:
    first = find_suggestion_point(CALC, 2)
    assert first is not None and first.indent == "      "  # deeper than `_`, which is at 4
    probe = split_lines(candidate_probe_text(CALC, first, "exact hab"))
    assert probe[1:5] == ["  calc a = b := by", "      exact hab", "      sorry", "    _ = c := by"]
    second = find_suggestion_point(CALC, 4)
    assert second is not None and second.indent == "      "


def test_a_one_step_calc_block_is_indented_under_the_calc() -> None:
    lines = ["theorem t : a = b := by", "  calc a = b := by", ""]
    point = find_suggestion_point(lines, 2)
    assert point is not None and point.indent == "      "
