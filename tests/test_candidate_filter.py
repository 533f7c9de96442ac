"""The candidate filter lets only one-line tactic sequences through: any Lean command spliced into a
tactic, anywhere, by any separator, in any look-alike spelling, is rejected before Lean sees it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmstep_lsp.generation.filters import COMMAND_KEYWORDS, rejection_reason

TACTICS = [
    "rfl",
    "simp",
    "exact h (Nat.le_succ _)",
    "simp [Nat.add_def] at h ⊢",
    "nlinarith [sq_nonneg (a - b)]",
    "intro h n",
    "constructor <;> simp",
    "rw [← h]",
    "exact ⟨1, by norm_num⟩",
    "refine ⟨_, ?_⟩",
    "exact #[1, 2].size",
    "infer_instance",
    "exact h.trans (le_of_lt hx)",
    "cases h with | inl h => exact h | inr h => exact h.elim",
    "exact fun x => x",
    "simp only [List.length_cons]; omega",
]

# Commands as a model might write them (one for each kind of command in Lean's grammar), written
# independently of the filter's keyword list.
COMMANDS = [
    "#eval IO.println 1",
    "#exit",
    "#print axioms foo",
    "#check Nat",
    "#reduce 1",
    "axiom x : False",
    "example : True := trivial",
    "theorem t : 1 = 1 := rfl",
    "lemma t : 1 = 1 := rfl",
    "def f := 1",
    "abbrev A := Nat",
    "instance : Inhabited Nat := ⟨0⟩",
    "structure S where",
    "class C where",
    "inductive I | a",
    "opaque o : Nat",
    "variable (x : Nat)",
    "universe u",
    "export Nat (succ)",
    "open Nat",
    "open Classical in",
    "set_option maxHeartbeats 0 in",
    "set_option pp.all true",
    "namespace N",
    "section",
    "end",
    "import Mathlib",
    "attribute [simp] foo",
    "@[simp] theorem t : 1 = 1 := rfl",
    'macro "x" : tactic => `(tactic| rfl)',
    "macro_rules | `(x) => `(y)",
    'syntax "x" : tactic',
    'elab "x" : tactic => pure ()',
    'notation "x" => 1',
    'infixl:65 " +\' " => Nat.add',
    "initialize pure ()",
    "mutual",
    "deriving instance Repr for Nat",
    "noncomputable def g := 1",
    "private theorem p : True := trivial",
    "unsafe def u := 1",
    "run_cmd pure ()",
    "include x",
    "omit x",
    "termination_by n",
    "decreasing_by simp",
    'local notation "y" => 2',
    "scoped instance : Inhabited Nat := ⟨1⟩",
    "alias foo := bar",
]

SEPARATORS = [
    " ",
    ";",
    "; ",
    " <;> ",
    "\n",
    "\r\n",
    "\r",
    "\u2028",
    "\u2029",
    "\x85",
    "\v",
    "\f",
    "(",
    " (",
    "⟨",
]


def full_width(text: str) -> str:
    """ASCII printable characters as their full-width forms (U+FF01..U+FF5E): `#eval` → `＃ｅｖａｌ`."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@settings(max_examples=400, deadline=None)
@given(
    tactic=st.sampled_from(TACTICS),
    command=st.sampled_from(COMMANDS),
    separator=st.sampled_from(SEPARATORS),
    before=st.booleans(),
    wide=st.booleans(),
)
def test_a_command_spliced_into_a_tactic_is_rejected(
    tactic: str, command: str, separator: str, before: bool, wide: bool
) -> None:
    if wide:
        command = full_width(command)
    text = command + separator + tactic if before else tactic + separator + command
    assert rejection_reason(text) is not None, text


@settings(max_examples=200, deadline=None)
@given(
    first=st.sampled_from(TACTICS),
    second=st.sampled_from(TACTICS),
    joiner=st.sampled_from([" <;> ", "; "]),
)
def test_tactic_sequences_pass(first: str, second: str, joiner: str) -> None:
    assert rejection_reason(first + joiner + second) is None


@given(keyword=st.sampled_from(sorted(COMMAND_KEYWORDS)), tactic=st.sampled_from(TACTICS))
def test_every_command_keyword_at_a_token_boundary_is_rejected(keyword: str, tactic: str) -> None:
    assert rejection_reason(f"{tactic} {keyword} x") is not None
    # Inside an identifier it is no keyword: `infer_instance`, `h.end`, `my_example` are fine.
    assert rejection_reason(f"exact my_{keyword.rstrip('%')}_lemma") is None


def test_fullwidth_and_small_number_signs_are_commands_too() -> None:
    for text in (
        "simp ＃eval 1",
        "simp ﹟exit",
        "ｒｆｌ ＃ｅｘｉｔ",
        "rfl ｔｈｅｏｒｅｍ x : False := by simp",
    ):
        assert unicodedata.normalize("NFKC", text) != text
        assert rejection_reason(text) is not None, text


def test_text_that_closes_the_by_block_is_rejected() -> None:
    for text in ("rfl) theorem x : False := by simp", "exact h⟩", "simp] at h", "rfl -/", "simp /- x"):
        assert rejection_reason(text) is not None, text


def test_proofs_by_fiat_are_rejected() -> None:
    for text in ("sorry", "exact sorryAx _", "exact sorryAx _ true", "admit", "stop", "exact (sorry)"):
        assert rejection_reason(text) is not None, text


@pytest.mark.parametrize(
    "echo", ["[PROOFSTEP]simp", "simp [/TAC]", "[STATE] x", "exact h [TAC]", "[GOAL]", "rfl<|endoftext|>",
             "simp<|im_end|>", "[CTX]rfl"],
)  # fmt: skip
def test_prompt_markers_a_model_echoes_never_reach_lean(echo: str) -> None:
    reason = rejection_reason(echo)
    assert reason is not None and reason.startswith("prompt marker"), reason


@pytest.mark.parametrize("tactic", ["simp [h]", "rw [h₀, GOAL]", "exact f <| g x |>.1", "simp [TAC.x]"])
def test_brackets_and_pipes_of_real_tactics_are_not_markers(tactic: str) -> None:
    assert rejection_reason(tactic) is None
