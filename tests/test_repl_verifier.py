"""REPL answers → verdicts (shapes recorded from the real REPL, reference §12.4), and the REPL probe."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmstep_lsp.cli.doctor import run_doctor
from llmstep_lsp.config.settings import Settings
from llmstep_lsp.text.lines import split_lines
from llmstep_lsp.text.suggestion_point import find_suggestion_point
from llmstep_lsp.verification.repl import repl_probe
from llmstep_lsp.verification.repl_verdicts import verdict_of
from llmstep_lsp.verification.verifier import Verdict
from tests.conftest import EXAMPLES_SCRIPT, REPO


def test_a_failing_tactic_with_no_goals_left_is_invalid_not_closing() -> None:
    # REPL:test/invalid_tactic.expected.out: error recovery leaves `goals: []`.
    answer = {
        "proofStatus": "Incomplete: contains sorry",
        "proofState": 1,
        "messages": [
            {
                "severity": "error",
                "pos": {"line": 0, "column": 0},
                "endPos": {"line": 0, "column": 0},
                "data": "Unknown identifier `my_fake_premise`",
            }
        ],
        "goals": [],
    }
    result = verdict_of("exact my_fake_premise", answer)
    assert result.verdict is Verdict.INVALID
    assert result.error == "Unknown identifier `my_fake_premise`"


def test_error_objects_parse_errors_are_invalid_lost_states_are_no_verdict() -> None:
    unknown = {"message": "Lean error:\n<input>:1:1: unknown tactic"}
    assert verdict_of("exat 42", unknown).verdict is Verdict.INVALID
    assert verdict_of("rfl", {"message": "Unknown proof state."}).verdict is Verdict.UNKNOWN


def test_completed_closes_and_open_goals_are_valid() -> None:
    assert verdict_of("exact -37", {"proofStatus": "Completed", "proofState": 2, "goals": []}).verdict is (
        Verdict.CLOSES
    )
    info = {  # REPL:test/Mathlib/test/exact.expected.out: an info message is no error
        "proofStatus": "Completed",
        "proofState": 1,
        "messages": [
            {"severity": "info", "pos": {"line": 0, "column": 0}, "data": "Try this: exact Nat.one_pos"}
        ],
        "goals": [],
    }
    assert verdict_of("exact?", info).verdict is Verdict.CLOSES
    cases = {  # REPL:test/app_type_mismatch.expected.out
        "proofStatus": "Incomplete: open goals remain",
        "proofState": 1,
        "goals": ["case zero\n⊢ 0 = 0", "case succ\nn✝ : Nat\n⊢ n✝ + 1 = 0"],
    }
    result = verdict_of("cases 1", cases)
    assert result.verdict is Verdict.VALID and len(result.goals_after) == 2


def test_closing_the_main_goal_leaves_the_other_goals_at_the_point() -> None:
    result = verdict_of("rfl", {"proofStatus": "Completed", "proofState": 2, "goals": []}, ("⊢ 3 = 3",))
    assert result.verdict is Verdict.VALID and result.goals_after == ("⊢ 3 = 3",)


def test_probe_splits_header_context_and_declaration_with_sorry() -> None:
    lines = split_lines((REPO / "lean" / "Examples.lean").read_text())
    line = next(i for i, t in enumerate(lines) if t.startswith("theorem monotone_step' ")) + 2
    point = find_suggestion_point(lines, line)
    assert point is not None
    probe = repl_probe(lines, point)
    assert probe is not None
    # The doc comment before the imports is skipped; only imports make the header (the pool key).
    assert probe.header.split("\n") == [
        "import Mathlib.Data.Real.Basic",
        "import Mathlib.Order.Monotone.Basic",
        "import Mathlib.Topology.Instances.Real",
    ]
    assert "open Filter Topology" in probe.context and "theorem monotone_step " in probe.context
    assert "import" not in probe.context and "monotone_step'" not in probe.context
    assert probe.declaration.split("\n") == [
        "theorem monotone_step' (f : ℕ → ℕ) : Monotone f → ∀ n, f n ≤ f (n + 1) := by",
        "  intro h n",
        "  sorry",
    ]


def test_repl_settings_are_validated() -> None:
    settings, problems = Settings.from_mapping({"verifier": "repl"})
    assert settings.verifier == "lean-server" and any("replCommand" in p for p in problems)
    settings, problems = Settings.from_mapping(
        {"verifier": "repl", "replCommand": ["repl"], "replPoolSize": 3}
    )
    assert problems == [] and (settings.verifier, settings.repl_command, settings.repl_pool_size) == (
        "repl",
        ("repl",),
        3,
    )
    for bad in ({"verifier": "kernel"}, {"replPoolSize": 0}):
        assert Settings.from_mapping(bad)[0] == Settings()


async def test_doctor_says_whether_the_configured_repl_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lean-toolchain").write_text("leanprover/lean4:v4.20.0\n")
    fake = [sys.executable, str(REPO / "tests" / "fake_repl" / "repl.py"), "--script", str(EXAMPLES_SCRIPT)]
    good = Settings(verifier="repl", repl_command=tuple(fake), model="")
    await run_doctor(good, tmp_path / "A.lean")
    assert "[ok] REPL: " in capsys.readouterr().out
    bad = Settings(verifier="repl", repl_command=("./no-such-repl",), model="")
    assert await run_doctor(bad, tmp_path / "A.lean") == 1
    out = capsys.readouterr().out
    assert "[!!] REPL (./no-such-repl): cannot start the REPL" in out and "fix: build" in out
