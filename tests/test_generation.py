"""Generation: the tiny model through `from_pretrained`, llmstep's prompt, prefix, dedup, ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmstep_lsp.generation import Candidate, ModelUnavailable
from llmstep_lsp.generation.automation import AutomationGenerator
from llmstep_lsp.generation.prompt import merge_ranked, proofstep_prompt
from llmstep_lsp.generation.transformers_backend import SamplingConfig, TransformersGenerator

MONOTONE_GOAL = "f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"


def test_prompt_is_llmsteps_proofstep_format() -> None:
    assert proofstep_prompt("⊢ 2 = 2", "ex") == "[GOAL]⊢ 2 = 2[PROOFSTEP]ex"


async def test_tiny_model_keeps_the_prefix_and_returns_single_line_ranked_tactics(tiny_model: Path) -> None:
    generator = TransformersGenerator(SamplingConfig(str(tiny_model), num_samples=10, max_new_tokens=48))
    candidates = await generator.generate(MONOTONE_GOAL, "exact")
    assert candidates
    tactics = [c.tactic for c in candidates]
    assert all(t.startswith("exact") and "\n" not in t for t in tactics)
    assert len(tactics) == len(set(tactics)), "duplicates are merged"
    scores = [c.score for c in candidates]
    assert all(s is not None and s <= 0 for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    # It learned this proofstep; a random model would never produce it.
    assert any(t.startswith("exact h (Nat.le_succ") for t in tactics)


async def test_samples_stop_at_eos_long_before_the_token_limit(tiny_model: Path) -> None:
    generator = TransformersGenerator(SamplingConfig(str(tiny_model), num_samples=4, max_new_tokens=128))
    candidates = await generator.generate(MONOTONE_GOAL, "")
    assert candidates and max(len(c.tactic) for c in candidates) < 60


async def test_missing_model_is_one_clear_error_with_the_fix() -> None:
    generator = TransformersGenerator(SamplingConfig("/nonexistent/model-dir"))
    with pytest.raises(ModelUnavailable) as first:
        await generator.generate("⊢ True", "")
    assert "/nonexistent/model-dir" in str(first.value) and "Fix:" in str(first.value)
    with pytest.raises(ModelUnavailable) as second:  # remembered: no second slow attempt
        await generator.generate("⊢ True", "")
    assert second.value is first.value


async def test_automation_candidates_respect_the_prefix() -> None:
    generator = AutomationGenerator(("rfl", "simp", "simp_all", "omega"))
    assert [c.tactic for c in await generator.generate("⊢ True", "simp")] == ["simp", "simp_all"]
    assert [c.tactic for c in await generator.generate("⊢ True", "")] == ["rfl", "simp", "simp_all", "omega"]


def test_merge_keeps_the_best_scored_duplicate_and_never_sorry() -> None:
    merged = merge_ranked(
        [
            Candidate("simp", None, "automation"),
            Candidate("exact  h", -2.0, "model"),
            Candidate("exact h", -0.5, "model"),
            Candidate("simp", -1.0, "model"),
            Candidate("sorry", -0.1, "model"),
        ]
    )
    assert [(c.tactic, c.score) for c in merged] == [("exact h", -0.5), ("simp", -1.0)]
