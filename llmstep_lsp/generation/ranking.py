"""Merging candidates from every source into one ranked, filtered list: the one place candidates
are filtered and ranked. Backends only score their samples (`scored_samples`); whoever offers or
scores a list (the pipeline's `grow`, proof search, `eval steps`) passes it through `merge_ranked`."""

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
    """Filtered (`filters.rejection_reason`), then `ranked_unique`: duplicates merged keeping the
    best score, best first. Each candidate the filter drops is appended to `rejected` (when given)
    with the filter's reason.
    """
    kept: list[Candidate] = []
    for candidate in candidates:
        if (reason := rejection_reason(candidate.tactic, theorem_name)) is None:
            kept.append(candidate)
        elif rejected is not None:
            rejected.append((candidate, reason))
    return ranked_unique(kept)


def ranked_unique(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Duplicates (after whitespace normalisation) merged keeping the best score, best first, with no
    filter (for candidates `merge_ranked` already let through). Scored candidates are ranked by mean
    log-prob; unscored ones follow in their given order."""
    best: dict[str, Candidate] = {}
    order: list[str] = []
    for candidate in candidates:
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


def scored_samples(samples: Iterable[tuple[str, float | None, float | None]]) -> list[Candidate]:
    """The model's candidates from (tactic, mean log-prob, total log-prob) samples, one per sample in
    sample order: not filtered, not merged, not ranked (`merge_ranked` does that, once). Without
    log-probs (a server that gives none), each sample is scored by its text's frequency among the
    samples: the log of that share stands for both log-probs."""
    samples = list(samples)
    if samples and all(mean is None for _, mean, _ in samples):
        counts: dict[str, int] = {}
        for tactic, _, _ in samples:
            counts[tactic] = counts.get(tactic, 0) + 1
        share = {tactic: math.log(count / len(samples)) for tactic, count in counts.items()}
        samples = [(tactic, share[tactic], share[tactic]) for tactic, _, _ in samples]
    return [Candidate(t, mean, "model", total) for t, mean, total in samples]
