"""Is a closing proof free of `sorry`? Asked of Lean with `#print axioms`, never read from text.

A candidate "closes the goal" when Lean leaves no goal after it, but `apply?` closes an unprovable
goal with `admitGoal` (a `sorry`, `src/Lean/Elab/Tactic/LibrarySearch.lean`), and `sorryAx`, `stop`
or a macro can do the same. So every closing proof (a one-tactic suggestion, the path a proof
search found, a sampled whole proof) is checked once more in a second shadow text: the proof in
the point's place with no placeholder after it, the rest of the point's block dropped, then
`#print axioms <declaration>`. Lean answers with an info message at `#print`
(`src/Lean/Elab/Print.lean`, `printAxiomsOf`): `'X' depends on axioms: [propext, sorryAx]` or
`'X' does not depend on any axioms`. The proof is sorry-free iff that message comes and does not
list `sorryAx`.

Why `#print axioms` and not the "declaration uses 'sorry'" warning: the warning is only logged when
the declaration has no error, and its wording changed between releases (§7 of the protocol
reference); `collectAxioms` walks the finished terms, every lemma they use included, so a `sorry`
anywhere in the proof or its dependencies is caught, whatever produced it. Only in a `module` file,
where Lean refuses `#print axioms`, is the warning used instead (with no error in the declaration).

The user's own `sorry`s elsewhere in the declaration (another `case`, a later bullet) would make
every proof look guilty, so in this probe each line that is only a `sorry` tactic (after its
indentation, a `·`, `case … =>` or `next =>`) becomes `exact llmstepOpenGoal` (a term `:= sorry`
ending a line becomes `:= llmstepOpenGoal`), an axiom declared just before the declaration;
`#print axioms` then lists that axiom for the user's holes and `sorryAx` only for the proof's own.
A `sorry` elsewhere in the declaration that is not of these two forms cannot be told apart: the
proof is then reported as using `sorry` (not offered).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from llmstep_lsp.lean.client import LeanDiagnostic
from llmstep_lsp.text.suggestion_point import SuggestionPoint, candidate_probe_text, declaration_end

OPEN_GOAL_AXIOM = "llmstepOpenGoal"
"""Stands for the user's own `sorry`s elsewhere in the declaration, in the probe only."""
PROBE_NAME = "llmstepProbe"
"""The name an `example` (or unnamed `instance`) gets in the probe, so `#print axioms` can name it."""
SORRY_AXIOM = "sorryAx"

_WHOLE_LINE_SORRY = re.compile(
    r"^(\s*(?:[·.]\s+|(?:case\s+[^=]*?|next(?:\s+[^=]*?)?)\s*=>\s*)?)sorry\s*(--.*)?$"
)
_TERM_SORRY = re.compile(r"^(.*:=\s*)sorry\s*(--.*)?$")
_SORRY_WORD = re.compile(r"(?<![\w'.])(sorry|admit|stop)(?![\w'!?])")
_HEAD = re.compile(
    r"^(\s*(?:@\[[^\]]*\]\s*)?(?:(?:private|protected|noncomputable)\s+)*)(example|instance)\b"
)
_AXIOMS = re.compile(
    r"^'(?P<name>.+?)' (?:does not depend on any axioms|depends on axioms: \[(?P<list>[^\]]*)\])"
)

Diagnose = Callable[[str], Awaitable[list[LeanDiagnostic] | None]]
"""Shadow text → Lean's diagnostics for it (None: no answer in time; may raise `LeanError`)."""


@dataclass(frozen=True)
class SorryCheck:
    """Lean's answer on one closing proof."""

    sorry_free: bool | None
    """True: no `sorryAx` among its axioms; False: it uses `sorry`; None: Lean gave no answer."""
    detail: str
    """What Lean said (the axioms, or why there is no answer)."""


@dataclass(frozen=True)
class AxiomsProbe:
    """The shadow text that asks Lean for a proof's axioms, and the name it asks about."""

    text: str
    name: str
    """The declaration's name as `#print axioms` is given it."""
    lines: tuple[int, int] = (0, 0)
    """The declaration's lines in `text` (first, end exclusive)."""
    proof_lines: tuple[int, int] = (0, 0)
    """The proof's own lines in `text` (first, end exclusive)."""


def axioms_probe(lines: list[str], point: SuggestionPoint, proof: str) -> AxiomsProbe | str:
    """The shadow text that asks for the axioms of `proof` (one or more lines, later ones already
    indented) at the point; or why there is none (a string)."""
    declaration = point.declaration
    if declaration is None:
        return "no enclosing declaration"
    height = proof.count("\n") + 1
    probe = candidate_probe_text(lines, point, proof).split("\n")
    del probe[point.line + height]  # the placeholder `sorry`: nothing may follow the proof
    start, end = declaration.start_line, declaration_end(probe, declaration.start_line, point.line + height)
    holes = 0
    for index in range(start, end):
        if point.line <= index < point.line + height:
            continue
        if match := _WHOLE_LINE_SORRY.match(probe[index]):
            probe[index] = f"{match[1]}exact {OPEN_GOAL_AXIOM}"
            holes += 1
        elif match := _TERM_SORRY.match(probe[index]):
            probe[index] = f"{match[1]}{OPEN_GOAL_AXIOM}"
            holes += 1
        elif _SORRY_WORD.search(probe[index].split("--", 1)[0]):
            return "the declaration has a sorry elsewhere that the check cannot tell apart"
    name = declaration.name
    if name is None:
        head = _HEAD.match(probe[start])
        if head is None:
            return "the declaration has no name to ask about"
        if head[2] == "instance":
            new = f"instance {PROBE_NAME}"
        else:  # `def`, not `theorem`: an `example` may prove a `Type` as well as a `Prop`
            new = ("" if "noncomputable" in head[1] else "noncomputable ") + f"def {PROBE_NAME}"
        probe[start] = head[1] + new + probe[start][head.end() :]
        name = PROBE_NAME
    body = [*probe[:end], f"#print axioms {name}"]
    shift = 1 if holes else 0
    if holes:
        body.insert(start, f"axiom {OPEN_GOAL_AXIOM}.{{u}} {{α : Sort u}} : α")
    proof_lines = (point.line + shift, point.line + height + shift)
    return AxiomsProbe("\n".join(body), name, (start + shift, end + shift), proof_lines)


def axioms_in(diagnostics: list[LeanDiagnostic]) -> list[str] | None:
    """The axioms `#print axioms` reported (the last such message), or None if there is none."""
    found: list[str] | None = None
    for diagnostic in diagnostics:
        if diagnostic.severity != 3:
            continue
        match = _AXIOMS.match(diagnostic.message.strip())
        if match:
            listed = match["list"] or ""
            found = [name.strip() for name in listed.split(",") if name.strip()]
    return found


async def check_sorry_free(
    diagnose: Diagnose, lines: list[str], point: SuggestionPoint, proof: str
) -> SorryCheck:
    """Whether Lean confirms that `proof` at the point closes its goals without `sorry`."""
    probe = axioms_probe(lines, point, proof)
    if isinstance(probe, str):
        return SorryCheck(False, probe)
    diagnostics = await diagnose(probe.text)
    if diagnostics is None:
        return SorryCheck(None, "no answer to #print axioms in time")
    axioms = axioms_in(diagnostics)
    if axioms is None and any(d.is_error and "in a `module`" in d.message for d in diagnostics):
        return _by_warning(diagnostics, probe)
    if axioms is None:
        errors = [d.message for d in diagnostics if d.is_error]
        return SorryCheck(None, "Lean printed no axioms" + (f": {errors[0]}" if errors else ""))
    if SORRY_AXIOM in axioms:
        # An error elsewhere in the declaration (the user's unfinished text after the proof) is
        # admitted with a synthetic sorry too: then Lean's answer says nothing about the proof.
        first, end = probe.lines
        elsewhere = [
            d.message
            for d in diagnostics
            if d.is_error
            and first <= d.start[0] < end
            and not probe.proof_lines[0] <= d.start[0] < probe.proof_lines[1]
        ]
        if elsewhere:
            return SorryCheck(None, f"cannot tell: the declaration has an error elsewhere: {elsewhere[0]}")
        return SorryCheck(False, f"depends on axioms: [{', '.join(axioms)}]")
    return SorryCheck(True, f"axioms: [{', '.join(a for a in axioms if a != OPEN_GOAL_AXIOM)}]")


def _by_warning(diagnostics: list[LeanDiagnostic], probe: AxiomsProbe) -> SorryCheck:
    """In a `module` Lean refuses `#print axioms` (`elabPrintAxioms`); there the declaration must
    have no error (which would hide the warning) and no "declaration uses 'sorry'" warning
    (`addDecl` logs it for any `sorryAx` in the declaration)."""
    first, end = probe.lines
    inside = [d for d in diagnostics if first <= d.start[0] < end]
    if errors := [d.message for d in inside if d.is_error]:
        return SorryCheck(None, f"a module, and the declaration has an error: {errors[0]}")
    if any(d.severity == 2 and d.message.lower().startswith("declaration uses") for d in inside):
        return SorryCheck(False, "declaration uses 'sorry'")
    return SorryCheck(True, "no 'declaration uses sorry' warning (a module: no #print axioms)")
