"""Reading (goal state, next tactic) data, shared by `train` and `eval steps`. (Offline data only:
where a suggestion goes in an open file is `text/suggestion_point.py`.)

Two layouts are accepted: JSON Lines with one `{"state", "tactic"}` object a line (the shared
miniF2F file, and llmstep-style exports), and LeanDojo's benchmark JSON, a list of theorems each
holding `traced_tactics: [{"tactic", "state_before", "state_after"}]`. Anything else is refused
with the line (or theorem) and what was expected, so a wrong file fails before any model loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXPECTED = (
    'expected a JSON object {"state": ..., "tactic": ...} per line, '
    'or a LeanDojo theorem with "traced_tactics": [{"state_before": ..., "tactic": ...}]'
)


@dataclass(frozen=True)
class ProofStep:
    """One training/evaluation example: the goal state before a tactic, and the tactic."""

    state: str
    """The goal state before the tactic, as Lean pretty-prints it."""
    tactic: str
    theorem: str | None = None
    """The theorem's full name where the data gives one (LeanDojo's `full_name`)."""


class DataError(ValueError):
    """The data file cannot be read as proofsteps; the message names the place and the fix."""


def load_proofsteps(path: Path) -> list[ProofStep]:
    """Every step in `path`, in file order (either layout above, told apart by a leading `[`).
    Raises `DataError` naming the line or theorem at fault, or when the file holds no step."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    if text.lstrip().startswith("["):
        steps = list(_from_leandojo_json(path, text))
    else:
        steps = list(_from_jsonl(path, text))
    if not steps:
        raise DataError(f"{path}: no proofsteps found; {EXPECTED}")
    return steps


def _from_jsonl(path: Path, text: str) -> Iterator[ProofStep]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not valid JSON ({err.msg}); {EXPECTED}") from err
        yield from _steps_of(row, where)


def _from_leandojo_json(path: Path, text: str) -> Iterator[ProofStep]:
    try:
        theorems = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); {EXPECTED}") from err
    for index, theorem in enumerate(theorems):
        name = theorem.get("full_name") if isinstance(theorem, Mapping) else None
        where = f"{path}: theorem #{index}" + (f" ({name})" if name else "")
        yield from _steps_of(theorem, where)


def _steps_of(row: Any, where: str) -> Iterator[ProofStep]:
    """The steps of one JSON value: a single step, or a LeanDojo theorem's traced tactics."""
    if not isinstance(row, Mapping):
        raise DataError(f"{where}: got {type(row).__name__}; {EXPECTED}")
    theorem = row.get("full_name") if isinstance(row.get("full_name"), str) else None
    if "traced_tactics" in row:
        traced = row["traced_tactics"]
        if not isinstance(traced, list):
            raise DataError(f"{where}: 'traced_tactics' is not a list; {EXPECTED}")
        for i, step in enumerate(traced):
            if not isinstance(step, Mapping):
                raise DataError(f"{where}, traced tactic #{i}: not an object; {EXPECTED}")
            yield _step(step, "state_before", theorem, f"{where}, traced tactic #{i}")
        return
    yield _step(
        row, "state_before" if "state_before" in row and "state" not in row else "state", theorem, where
    )


def _step(row: Mapping[str, Any], state_key: str, theorem: str | None, where: str) -> ProofStep:
    state, tactic = row.get(state_key), row.get("tactic")
    if not isinstance(state, str) or not isinstance(tactic, str):
        keys = ", ".join(sorted(row)) or "none"
        raise DataError(f"{where}: needs string fields '{state_key}' and 'tactic' (has: {keys}); {EXPECTED}")
    if not tactic.strip():
        raise DataError(f"{where}: empty 'tactic'")
    return ProofStep(state=state, tactic=tactic, theorem=theorem)
