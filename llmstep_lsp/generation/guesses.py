"""Guessed continuations for speculative sampling, by n-gram lookup (no second model).

A row's next tokens are guessed as what followed the latest earlier occurrence of its last n tokens
(n = 3, then 2, then 1) in the texts indexed so far: recent outputs of the same model, the prompt,
and the samples of the request as they grow. Tactics repeat their own pieces
(`sq_nonneg (a - b), sq_nonneg (a + b)`), the goal's names and earlier suggestions, so guesses are
often right. The sampler checks every guessed token against the model, so a wrong guess costs a few
extra positions in one forward pass, never a different output.

Plain Python, no torch: the sampler asks for a few guesses per step.
"""

from __future__ import annotations

LONGEST_NGRAM = 3


class NgramGuesser:
    """An index from the last 1..`longest` token ids to what followed them; the latest wins."""

    def __init__(self, behind: NgramGuesser | None = None, longest: int = LONGEST_NGRAM) -> None:
        """`behind`: asked for an n-gram this index has not seen (earlier requests' outputs)."""
        self._behind = behind
        self._longest = longest
        # n-gram -> (the token list it occurs in, where its continuation starts); the latest wins
        self._continuations: dict[tuple[int, ...], tuple[list[int], int]] = {}

    def index(self, tokens: list[int], start: int = 0) -> None:
        """Index the n-grams of `tokens` followed by a token at position ≥ `start`.

        `tokens` is kept by reference: when the caller appends to it later, the continuations
        found through earlier entries grow with it (index the new positions too)."""
        for position in range(max(start, 1), len(tokens)):
            for n in range(1, min(self._longest, position) + 1):
                self._continuations[tuple(tokens[position - n : position])] = (tokens, position)

    def guess(self, history: list[int], limit: int) -> list[int]:
        """Up to `limit` tokens that may follow `history`; empty when nothing matches."""
        if limit <= 0:
            return []
        for n in range(min(self._longest, len(history)), 0, -1):
            ngram = tuple(history[-n:])
            found = self._continuations.get(ngram)
            if found is None and self._behind is not None:
                found = self._behind._continuations.get(ngram)
            if found is not None:
                tokens, position = found
                return tokens[position : position + limit]
        return []


class RecentOutputs:
    """Samples of earlier requests, indexed once for guessing in later ones.

    Bounded: when `capacity` samples are kept, the older half is forgotten and the rest indexed
    anew (an index is never rebuilt per request)."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._outputs: list[list[int]] = []
        self.index = NgramGuesser()

    def remember(self, tokens: list[int]) -> None:
        """Keep one sample's token ids and index them (halving the memory first when full)."""
        if len(self._outputs) >= self._capacity:
            self._outputs = self._outputs[len(self._outputs) // 2 :]
            self.index = NgramGuesser()
            for kept in self._outputs:
                self.index.index(kept)
        self._outputs.append(tokens)
        self.index.index(tokens)

    def clear(self) -> None:
        """Forget every sample: later guesses come only from the new request (bench/generation.py)."""
        self._outputs = []
        self.index = NgramGuesser()

    def __len__(self) -> int:
        return len(self._outputs)
