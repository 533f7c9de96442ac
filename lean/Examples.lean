/-
llmstep-lsp examples, in the spirit of llmstep's `LLMstep/Examples.lean`.

No `import LLMstep` and no `llmstep "…"` tactic: put the cursor on a `sorry` line, on an empty
line inside a proof, or after a half-typed tactic (`exact`, `apply h`, …) and open the lightbulb
menu (VS Code: Ctrl+.), or wait for the ghost text and press Tab. Every suggestion has been
checked by Lean first; "(closes goal)" means it finishes the proof.
-/
import Mathlib.Data.Real.Basic
import Mathlib.Order.Monotone.Basic
import Mathlib.Topology.Instances.Real

open Filter Topology

-- A trivial example: put the cursor on `sorry`.
theorem two_eq_two : 2 = 2 := by
  sorry

-- An empty proof line works too: the model-free tactics (`rfl`, `simp`, `omega`, …) answer here
-- even without a model.
theorem add_zero_nat (n : ℕ) : n + 0 = n := by
  

-- Several steps. On the last line the typed `exact` is the prefix, as in `llmstep "exact"`.
theorem monotone_step (f : ℕ → ℕ) : Monotone f → ∀ n, f n ≤ f (n + 1) := by
  intro h n
  exact

-- The same statement, one step at a time.
theorem monotone_step' (f : ℕ → ℕ) : Monotone f → ∀ n, f n ≤ f (n + 1) := by
  intro h n
  sorry

theorem subset_chain {α : Type _} (r s t : Set α) : r ⊆ s → s ⊆ t → r ⊆ t := by
  intro hrs hst x hxr
  apply hst
  sorry

-- Example from ProofNet (Rudin, exercise 1.18b).
theorem exercise_1_18b : ¬ ∀ (x : ℝ), ∃ (y : ℝ), y ≠ 0 ∧ x * y = 0 := by
  push_neg
  sorry

-- Neighbourhood filters: `𝓝` lies outside the Basic Multilingual Plane (two UTF-16 units),
-- the case where editors and Lean disagree about columns if a tool gets it wrong.
theorem tendsto_self (x : ℝ) : Tendsto (fun y : ℝ => y) (𝓝 x) (𝓝 x) := by
  have h : Tendsto id (𝓝 x) (𝓝 x) :=
