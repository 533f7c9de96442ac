"""What every candidate source takes and gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class GenerationRequest:
    """What a candidate source is asked for: next tactics at one suggestion point."""

    goal: str
    """The tactic state, as Lean pretty-prints it (all goals, blank-line separated)."""
    prefix: str = ""
    """What the user typed on the line; every candidate starts with it."""
    context: str = ""
    """The file text before the suggestion line (for context-aware formats)."""
    declaration: str = ""
    """The enclosing declaration from its first line up to the suggestion line (whole-proof formats)."""
    theorem_name: str | None = None
    """The declaration's name (None for `example`): the filter drops candidates that use it."""
    indent: str = "  "
    """The point's indentation (what precedes the tactic on its line), for `{indent}` in templates."""
    num_samples: int | None = None
    """Samples to draw instead of the configured count (proof search asks for more)."""


@dataclass(frozen=True)
class Candidate:
    """One proposed tactic, not yet checked by Lean; `tactic` starts with the request's prefix."""

    tactic: str
    score: float | None
    """Mean token log-probability under the model; None where the backend gives none."""
    source: str
    """'model' or 'automation'."""
    log_prob: float | None = None
    """The sample's total token log-probability (proof search adds these up along a path, as
    GPT-f does); None where the backend gives none."""


INSTALL_MODEL_BACKEND = (
    "in your llmstep-lsp checkout, pip install torch==2.13.0 && pip install -e '.[model]'"
    " (README: Quick start; Linux without an NVIDIA GPU: PyTorch's CPU index)"
)
"""How to install the model backend, as the README's install line says (the package is installed
from its checkout, not PyPI): torch first and pinned, so pip never pulls a CUDA build."""


class ModelUnavailable(Exception):
    """The configured model cannot be used; the message says why and how to fix it."""


class Generator(Protocol):
    """Proposes next tactics; every candidate starts with the request's prefix."""

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        """Candidates for `request`, each starting with its prefix, as proposed: not filtered, not
        merged, not ranked. A model backend's come one per sample in sample order, scored
        (`ranking.scored_samples`; duplicates and texts the filter would drop included),
        automation's in its configured order. Whoever needs a list to offer or score passes them
        through `ranking.merge_ranked` (the filter, duplicates merged, best first). Raises
        `ModelUnavailable` when the model cannot be used."""


def first_line(err: BaseException) -> str:
    """An exception's first line, cut to 300 characters (libraries' load errors run long)."""
    return str(err).strip().split("\n", 1)[0][:300]
