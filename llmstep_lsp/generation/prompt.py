"""The llmstep proofstep format: `[GOAL]{goal}[PROOFSTEP]{prefix}` → continuation, ended by EOS."""

from __future__ import annotations

from collections.abc import Iterable

from llmstep_lsp.generation.base import Candidate

# A model must never be able to sneak these past the user: they "prove" anything.
FORBIDDEN_TACTICS = frozenset({"sorry", "admit"})


def proofstep_prompt(goal: str, prefix: str) -> str:
    return f"[GOAL]{goal}[PROOFSTEP]{prefix}"


def first_line(text: str) -> str:
    """A sample stops at the end of its line: one tactic per suggestion."""
    return text.split("\n", 1)[0].rstrip()


def acceptable(tactic: str, prefix: str) -> bool:
    words = tactic.split()
    return (
        bool(tactic.strip()) and tactic.startswith(prefix) and not any(w in FORBIDDEN_TACTICS for w in words)
    )


def merge_ranked(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Duplicates (after whitespace normalisation) merged keeping the best score, best first;
    `sorry`/`admit` dropped whatever their source.

    Model candidates are ranked by mean log-prob; model-free ones follow in their given order.
    """
    best: dict[str, Candidate] = {}
    order: list[str] = []
    for candidate in candidates:
        if any(word in FORBIDDEN_TACTICS for word in candidate.tactic.split()):
            continue
        key = " ".join(candidate.tactic.split())
        kept = best.get(key)
        if kept is None:
            order.append(key)
            best[key] = candidate
        elif candidate.score is not None and (kept.score is None or candidate.score > kept.score):
            best[key] = candidate
    ranked = [best[k] for k in order]
    scored = sorted((c for c in ranked if c.score is not None), key=lambda c: -(c.score or 0.0))
    return scored + [c for c in ranked if c.score is None]
