"""The pure parts of sound verdicts: the `#print axioms` probe, Lean's answer, "Try this" parsing."""

from __future__ import annotations

import pytest

from llmstep_lsp.lean.client import LeanDiagnostic
from llmstep_lsp.text.suggestion_point import find_suggestion_point
from llmstep_lsp.verification.lean_search import is_search_tactic, proposed_tactics
from llmstep_lsp.verification.soundness import (
    OPEN_GOAL_AXIOM,
    AxiomsProbe,
    SorryCheck,
    axioms_in,
    axioms_probe,
    check_sorry_free,
)


def probe(text: str, line: int, proof: str) -> AxiomsProbe | str:
    lines = text.split("\n")
    point = find_suggestion_point(lines, line)
    assert point is not None
    return axioms_probe(lines, point, proof)


def test_the_probe_has_no_placeholder_and_asks_about_the_declaration() -> None:
    text = "theorem t : 2 = 2 := by\n  sorry\n  rfl\n\ntheorem u : 1 = 1 := by\n  rfl"
    result = probe(text, 1, "decide")
    assert isinstance(result, AxiomsProbe)
    assert result.text.split("\n") == ["theorem t : 2 = 2 := by", "  decide", "#print axioms t"]


def test_an_example_gets_a_name_it_can_be_asked_about() -> None:
    result = probe("example : 2 + 2 = 5 := by\n  sorry", 1, "apply?")
    assert isinstance(result, AxiomsProbe) and result.name == "llmstepProbe"
    assert result.text.split("\n")[0] == "noncomputable def llmstepProbe : 2 + 2 = 5 := by"


def test_the_users_own_sorries_become_a_named_axiom() -> None:
    text = "theorem p : A ∧ B := by\n  constructor\n  · sorry\n  · sorry\n  have h : C := sorry"
    result = probe(text, 2, "exact a")
    assert isinstance(result, AxiomsProbe)
    lines = result.text.split("\n")
    assert lines[0] == f"axiom {OPEN_GOAL_AXIOM}.{{u}} {{α : Sort u}} : α"
    assert lines[3:6] == ["  · exact a", f"  · exact {OPEN_GOAL_AXIOM}", f"  have h : C := {OPEN_GOAL_AXIOM}"]


def test_a_sorry_that_cannot_be_told_apart_is_said_so() -> None:
    text = "theorem p : A ∧ B := by\n  constructor\n  · sorry\n  · exact (f sorry)"
    assert (
        probe(text, 2, "exact a") == "the declaration has a sorry elsewhere that the check cannot tell apart"
    )


def info(message: str, severity: int = 3) -> LeanDiagnostic:
    return LeanDiagnostic(severity, message, (9, 0), (9, 0), (9, 6))


@pytest.mark.parametrize(
    ("message", "axioms"),
    [
        ("'t' does not depend on any axioms", []),
        ("'t' depends on axioms: [propext, sorryAx]", ["propext", "sorryAx"]),
        ("'monotone_step'' depends on axioms: [Classical.choice]", ["Classical.choice"]),
    ],
)
def test_lean_s_axioms_answer_is_read(message: str, axioms: list[str]) -> None:
    assert axioms_in([info("declaration uses 'sorry'", 2), info(message)]) == axioms


def test_no_answer_is_not_an_empty_answer() -> None:
    assert axioms_in([info("Unknown constant `t`", 1)]) is None


@pytest.mark.parametrize(
    ("messages", "tactics"),
    [
        (["Try this: exact rfl"], ["exact rfl"]),  # ≤ v4.23
        (["Try this:\n  exact rfl"], ["exact rfl"]),  # v4.24
        (["Try this:\n  [apply] exact Nat.one_pos"], ["exact Nat.one_pos"]),  # ≥ v4.25
        (["Try these:\n• exact a\n• refine b ?_"], ["exact a", "refine b ?_"]),
        (["Try these:\n  [apply] exact a\n  [apply] exact b"], ["exact a", "exact b"]),
        (["Try this:\n  intro x\n  simp_all"], ["intro x; simp_all"]),  # aesop?'s script
        (["Try this: exact foo\n    (bar baz)"], ["exact foo (bar baz)"]),  # wrapped term
        (["Try this: rw [h]\n-- no goals"], ["rw [h]"]),
        (["unsolved goals", "Try this: exact a", "Try this: exact a"], ["exact a"]),
    ],
)
def test_try_this_messages_in_every_layout(messages: list[str], tactics: list[str]) -> None:
    assert proposed_tactics(messages) == tactics


def test_which_tactics_are_search_tactics() -> None:
    assert all(map(is_search_tactic, ["exact?", "apply? using h", "simp? [foo]", "aesop?", "hint", "try?"]))
    assert not any(map(is_search_tactic, ["exact h", "simp", "rfl", "hint_me"]))


async def test_an_error_elsewhere_in_the_declaration_is_no_verdict_not_a_sorry() -> None:
    """Lean admits the user's broken later text with a synthetic sorry: that says nothing about the proof."""
    text = "theorem p : A ∧ B := by\n  constructor\n  · sorry\n  · exact brokn"
    lines = text.split("\n")
    point = find_suggestion_point(lines, 2)
    assert point is not None
    sorry_answer = info("'p' depends on axioms: [sorryAx]")

    async def lean(later_error: bool) -> SorryCheck:
        async def diagnose(probe_text: str) -> list[LeanDiagnostic]:
            assert probe_text.endswith("#print axioms p")
            error = LeanDiagnostic(1, "Unknown identifier `brokn`", (3, 4), (3, 4), (3, 9))
            return [error, sorry_answer] if later_error else [sorry_answer]

        return await check_sorry_free(diagnose, lines, point, "exact a")

    assert await lean(later_error=True) == SorryCheck(
        None, "cannot tell: the declaration has an error elsewhere: Unknown identifier `brokn`"
    )
    assert await lean(later_error=False) == SorryCheck(False, "depends on axioms: [sorryAx]")
