"""The fake's `#print axioms`, `axiom` and sorry bookkeeping follow Lean's sources (see axioms.py)."""

from __future__ import annotations

from typing import Any

from . import elaborate as elab

SCRIPT = elab.Script.from_json(
    {
        "declarations": {"two_eq_two": ["⊢ 2 = 2"], "example : 2 + 2 = 5": ["⊢ 2 + 2 = 5"]},
        "tactics": {
            "⊢ 2 = 2": {"rfl": [], "simp": {"result": [], "axioms": ["propext"]}},
            "⊢ 2 + 2 = 5": {
                "apply?": {"result": [], "sorry": True, "info": "Try this: refine Nat.succ_ne_self ?_"},
                "omega": {"error": "omega could not prove the goal"},
            },
        },
    }
)


def messages(text: str) -> list[tuple[int, int, str]]:
    """(line, severity, message) of every diagnostic, in order."""
    result = elab.elaborate(text, SCRIPT)
    return [(d["range"]["start"]["line"], d["severity"], d["message"]) for d in result.diagnostics]


def printed(text: str) -> list[dict[str, Any]]:
    return [
        d for d in elab.elaborate(text, SCRIPT).diagnostics if d["range"]["start"]["line"] == text.count("\n")
    ]


def test_a_sorry_free_proof_depends_on_no_axioms_at_the_print_token() -> None:
    text = "theorem two_eq_two : 2 = 2 := by\n  rfl\n#print axioms two_eq_two"
    [info] = printed(text)
    assert info["severity"] == elab.INFORMATION
    assert info["message"] == "'two_eq_two' does not depend on any axioms"
    assert info["range"] == {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 6}}


def test_axioms_a_tactic_uses_are_listed_sorted() -> None:
    text = "theorem two_eq_two : 2 = 2 := by\n  simp\n#print axioms two_eq_two"
    assert printed(text)[0]["message"] == "'two_eq_two' depends on axioms: [propext]"


def test_apply_question_closes_an_unprovable_goal_with_sorry() -> None:
    text = "noncomputable def llmstepProbe : 2 + 2 = 5 := by\n  apply?\n#print axioms llmstepProbe"
    assert messages(text) == [
        (1, elab.INFORMATION, "Try this: refine Nat.succ_ne_self ?_"),
        (0, elab.WARNING, "declaration uses `sorry`"),
        (2, elab.INFORMATION, "'llmstepProbe' depends on axioms: [sorryAx]"),
    ]


def test_an_error_means_a_synthetic_sorry_and_no_warning() -> None:
    text = "noncomputable def llmstepProbe : 2 + 2 = 5 := by\n  omega\n#print axioms llmstepProbe"
    assert messages(text) == [
        (1, elab.ERROR, "omega could not prove the goal"),
        (2, elab.INFORMATION, "'llmstepProbe' depends on axioms: [sorryAx]"),
    ]


def test_an_axiom_closes_any_goal_and_is_listed() -> None:
    text = "axiom hole.{u} {α : Sort u} : α\ntheorem two_eq_two : 2 = 2 := by\n  exact hole\n"
    text += "#print axioms two_eq_two"
    assert messages(text) == [(3, elab.INFORMATION, "'two_eq_two' depends on axioms: [hole]")]


def test_an_unknown_name_is_an_error() -> None:
    assert messages("#print axioms nowhere") == [(0, elab.ERROR, "Unknown constant `nowhere`")]
