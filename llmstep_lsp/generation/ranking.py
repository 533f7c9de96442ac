"""Merging candidates from every source into one ranked, filtered list."""

from __future__ import annotations

import math
from collections.abc import Iterable

from llmstep_lsp.generation.base import Candidate
from llmstep_lsp.generation.filters import rejection_reason


def normalise_tactic(tactic: str) -> str:
    """The whitespace-insensitive form of a tactic: runs of whitespace (newlines included) become
    one space. Two tactics with the same form are one suggestion, and one answer in `eval steps`."""
    return " ".join(tactic.split())


def merge_ranked(
    candidates: Iterable[Candidate],
    theorem_name: str | None = None,
    rejected: list[tuple[Candidate, str]] | None = None,
) -> list[Candidate]:
    """Filtered, duplicates (after whitespace normalisation) merged keeping the best score, best first.

    Scored candidates are ranked by mean log-prob; unscored ones follow in their given order. Each
    candidate the filter drops is appended to `rejected` (when given) with the filter's reason.
    """
    best: dict[str, Candidate] = {}
    order: list[str] = []
    for candidate in candidates:
        if (reason := rejection_reason(candidate.tactic, theorem_name)) is not None:
            if rejected is not None:
                rejected.append((candidate, reason))
            continue
        key = normalise_tactic(candidate.tactic)
        kept = best.get(key)
        if kept is None:
            order.append(key)
            best[key] = candidate
        elif candidate.score is not None and (kept.score is None or candidate.score > kept.score):
            best[key] = candidate
    ranked = [best[k] for k in order]
    scored = sorted((c for c in ranked if c.score is not None), key=lambda c: -(c.score or 0.0))
    return scored + [c for c in ranked if c.score is None]


def from_samples(
    samples: Iterable[tuple[str, float | None, float | None]],
    theorem_name: str | None = None,
    rejected: list[tuple[Candidate, str]] | None = None,
) -> list[Candidate]:
    """Candidates from (tactic, mean log-prob, total log-prob) samples; without log-probs, rank by
    frequency (the sample frequency's log then stands for both)."""
    samples = list(samples)
    if samples and all(mean is None for _, mean, _ in samples):
        counts: dict[str, int] = {}
        for tactic, _, _ in samples:
            counts[tactic] = counts.get(tactic, 0) + 1
        n = len(samples)
        samples = [(tactic, math.log(count / n), math.log(count / n)) for tactic, count in counts.items()]
    model = (Candidate(t, mean, "model", total) for t, mean, total in samples)
    return merge_ranked(model, theorem_name, rejected)
