"""The fake's model of axioms: `axiom` commands, `#print axioms`, and what a declaration depends on.

Written from Lean's sources:
- `src/Lean/Elab/Print.lean` (`printAxiomsOf`, `elabPrintAxioms`): `#print axioms X` logs one
  information message at the `#print` token, ``'X' depends on axioms: [a, b]`` (sorted by
  `Name.lt`) or ``'X' does not depend on any axioms``; a name that is no constant is an error.
- `src/Lean/AddDecl.lean` (`addDecl`): "declaration uses 'sorry'" is logged only when the
  declaration logged no error and its term has `sorryAx`.
- Error recovery (`src/Lean/Elab/Tactic/Basic.lean`, `Term.reportUnsolvedGoals` and the recovering
  `evalTactic`): a failing tactic or unsolved goals are admitted with a synthetic `sorryAx`, so a
  declaration with an error depends on `sorryAx` without the warning.
- `src/Lean/Elab/Tactic/LibrarySearch.lean` (`exact?`): `apply?` that cannot close the goal ends
  with `admitGoal goal (synthetic := false)`, a real `sorry` (scripts say `"sorry": true`).
"""

from __future__ import annotations

import re

AXIOM_RE = re.compile(r"^axiom\s+([^\s.{(:]+)")
PRINT_AXIOMS_RE = re.compile(r"^#print\s+axioms\s+(\S+)\s*$")
SORRY_AXIOM = "sorryAx"
PRINT_TOKEN = "#print"


MODULE_REFUSAL = (
    "cannot use `#print axioms` in a `module`; consider temporarily removing the `module` header or "
    "placing the command in a separate file"
)


def print_axioms_message(name: str, constants: dict[str, set[str]], module: bool = False) -> tuple[bool, str]:
    """(is_error, message) that `#print axioms name` logs, given each constant's axioms (an error in
    a file with a `module` header: `elabPrintAxioms`)."""
    if module:
        return True, MODULE_REFUSAL
    if name not in constants:
        return True, f"Unknown constant `{name}`"
    axioms = sorted(constants[name])
    if not axioms:
        return False, f"'{name}' does not depend on any axioms"
    return False, f"'{name}' depends on axioms: [{', '.join(axioms)}]"


def exact_axiom(tactic: str, axioms: set[str]) -> str | None:
    """The axiom `exact A` closes any goal with (None if `tactic` is not that)."""
    match = re.fullmatch(r"exact\s+(\S+)", tactic)
    return match[1] if match and match[1] in axioms else None
