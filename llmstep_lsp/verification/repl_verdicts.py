"""Reading a leanprover-community/repl tactic-mode answer as a verdict (`repl.py` asks)."""

from __future__ import annotations

from typing import Any

from llmstep_lsp.verification.verifier import CheckResult, Verdict


def verdict_of(tactic: str, answer: dict[str, Any], other_goals: tuple[str, ...] = ()) -> CheckResult:
    """A tactic-mode answer as a verdict. A failing tactic usually comes back as error `messages`
    (with `goals: []` after error recovery), not as an error object: never trust `goals` alone."""
    if "message" in answer:
        message = str(answer["message"])
        if message.startswith(("Unknown proof state", "Unknown environment")):
            return CheckResult(tactic, Verdict.UNKNOWN, error=message)
        return CheckResult(tactic, Verdict.INVALID, error=message)
    messages = answer.get("messages") or []
    infos = tuple(str(m.get("data", "")) for m in messages if m.get("severity") == "info")
    errors = [m for m in messages if m.get("severity") == "error"]
    if errors:
        return CheckResult(tactic, Verdict.INVALID, error=str(errors[0].get("data", "")), infos=infos)
    status = str(answer.get("proofStatus", ""))
    if status.startswith("Error") or "contains sorry" in status:
        verdict = Verdict.INVALID if status.startswith("Error") else Verdict.USES_SORRY
        return CheckResult(tactic, verdict, error=status, infos=infos)
    goals = (*[str(g) for g in answer.get("goals") or []], *other_goals)
    return CheckResult(tactic, Verdict.VALID if goals else Verdict.CLOSES, goals_after=goals, infos=infos)
