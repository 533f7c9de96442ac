"""What every candidate source provides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Candidate:
    tactic: str
    score: float | None
    """Mean token log-probability under the model; None for model-free candidates."""
    source: str
    """'model' or 'automation'."""


class ModelUnavailable(Exception):
    """The configured model cannot be used; the message says why and how to fix it."""


class Generator(Protocol):
    """Proposes next tactics for a goal; every candidate starts with `prefix`."""

    async def generate(self, goal: str, prefix: str) -> list[Candidate]: ...
