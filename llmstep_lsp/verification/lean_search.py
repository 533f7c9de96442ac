"""Lean's own search tactics (`exact?`, `apply?`, `simp?`, `aesop?`, `rw?`, `hint`, `try?`, …) as
model-free candidates: they run in a shadow document like any candidate, and what is offered is the
tactic they propose in Lean's "Try this" information message, checked again as a plain tactic.

The message is `addSuggestion`'s `logInfoAt ref m!"{header}{s}"` (`src/Lean/Meta/Tactic/TryThis.lean`),
in the layouts of the protocol reference §7:
- `Try this: exact rfl` (≤ v4.23), `Try this:\\n  exact rfl` (v4.24),
  `Try this:\\n  [apply] exact Nat.one_pos` (≥ v4.25);
- several suggestions (`addSuggestions`): `Try these:\\n• a\\n• b`, or one `[apply]` marker each.
A suggestion too long for one line is wrapped by the pretty printer with deeper indentation (joined
back with a space); a multi-line tactic script (`aesop?`) has its tactics at one indentation
(joined with `; `). Trailing `-- …` comments (`rw?` prints the goal after) are dropped.
"""

from __future__ import annotations

import re

from llmstep_lsp.generation.ranking import normalise_tactic

SEARCH_TACTICS = frozenset({"exact?", "apply?", "simp?", "simp_all?", "aesop?", "rw?", "hint", "try?"})
"""The suggestion tactics `automationTactics` may list (others ending in `?` count as well)."""

_HEADER = re.compile(r"^\s*Try (?:this|these):?")
_MARKER = re.compile(r"^\s*(?:\[apply\]|•)\s*")


def is_search_tactic(tactic: str) -> bool:
    """Whether `tactic` is a suggestion tactic (`exact?`, `simp? [h]`, `aesop?`, `hint`, …) whose
    own success proves nothing we may offer: only the tactic it proposes is."""
    head = tactic.split(maxsplit=1)[0] if tactic.strip() else ""
    return head in SEARCH_TACTICS or head.endswith(("?", "?!"))


def proposed_tactics(infos: tuple[str, ...] | list[str]) -> list[str]:
    """The tactics Lean's "Try this" / "Try these" information messages propose, in order, each on
    one line, without duplicates."""
    found: list[str] = []
    for message in infos:
        header = _HEADER.match(message)
        if header is None:
            continue
        for item in _items(message[header.end() :]):
            if item and item not in found:
                found.append(item)
    return found


def _items(body: str) -> list[str]:
    """The suggestions of one message body: split at `[apply]` / `•` markers, else one suggestion."""
    lines = [line.split("--", 1)[0].rstrip() for line in body.split("\n")]
    lines = [line for line in lines if line.strip()]
    groups: list[list[str]] = []
    for line in lines:
        if _MARKER.match(line) or not groups:
            groups.append([line])
        else:
            groups[-1].append(line)
    if not any(_MARKER.match(group[0]) for group in groups) and groups:
        groups = [[line for group in groups for line in group]]
    return [_joined(group) for group in groups]


def _joined(group: list[str]) -> str:
    """One suggestion's lines as one line: deeper lines continue the previous one (a wrapped term),
    lines at the first one's indentation are further tactics."""
    base = _indent(group[0])
    text = _MARKER.sub("", group[0], count=1).strip()
    for line in group[1:]:
        text += (" " if _indent(line) > base else "; ") + line.strip()
    return normalise_tactic(text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
