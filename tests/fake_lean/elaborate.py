"""Pure, scripted "elaboration" of Lean tactic proofs for the fake Lean server.

No I/O, no asyncio: ``elaborate(text, script)`` turns a document text into diagnostics (already in
LSP form, UTF-16 columns) plus per-tactic goal states, and ``plain_goal`` answers
``$/lean/plainGoal`` from that result.  Internally columns are Python code-point indices; they are
converted to UTF-16 code units (LSP) only at the boundary.  See README.md for the script format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

try:
    from .text import apply_change, cp_to_utf16, eof_position, lsp_to_offset, utf16_len, utf16_to_cp
except ImportError:  # run as a script: `python tests/fake_lean/server.py`
    from text import (  # type: ignore[no-redef,import-not-found,unused-ignore]
        apply_change,
        cp_to_utf16,
        eof_position,
        lsp_to_offset,
        utf16_len,
        utf16_to_cp,
    )

__all__ = ["apply_change", "cp_to_utf16", "eof_position", "lsp_to_offset", "utf16_len", "utf16_to_cp"]

# Tactic heads that parse (the brief's list, then extras common in model suggestions).
_TACTIC_WORDS = """
exact apply intro intros rfl simp simp_all omega decide norm_num linarith nlinarith positivity ring
ring_nf field_simp rw rwa use constructor cases induction rcases obtain have show refine calc aesop
tauto trivial exact? apply? push_neg by_contra contradiction assumption unfold specialize gcongr
norm_cast push_cast exists left right ext funext congr done skip
simpa rintro by_cases exfalso rewrite nth_rewrite subst symm split split_ifs infer_instance exacts
refine' cases' induction' abel suffices let set change · case next all_goals any_goals try repeat
first focus classical
"""
KNOWN_TACTICS = frozenset(_TACTIC_WORDS.split())

UNSOLVED_GOALS_TAG = 1
ERROR, WARNING, INFORMATION = 1, 2, 3

_DECL_RE = re.compile(r"^(\s*)(?:(theorem|lemma)\s+([^\s(\[{:]+)|(example)(?=[\s(\[{:]|$))")
_SCRIPT_KEYS = frozenset({"declarations", "tactics", "nested", "hang", "crash"})
_CASE_RE = re.compile(r"(case\s+([^\s=]+)[^=]*?|next(?:\s+[^=]*?)?)\s*=>\s*")
_RULE_KEYS = frozenset({"result", "delay_ms", "error", "info", "warning"})
_BRACKETS = {"(": ")", "[": "]", "{": "}"}

Pos = tuple[int, int]  # (line, code-point column)


def header_of(text: str) -> str:
    """The leading ``import`` lines (blank and ``--`` lines between them are skipped)."""
    imports = []
    for line in text.split("\n"):
        s = line.strip()
        if not s or s.startswith("--"):
            continue
        if not s.startswith("import"):
            break
        imports.append(s)
    return "\n".join(imports)


def strip_comment(line: str) -> str:
    """``line`` without a trailing ``-- comment`` (a ``--`` at the start or after whitespace)."""
    m = re.search(r"(^|\s)--", line)
    return line[: m.start()] if m else line


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_skippable(line: str) -> bool:
    s = line.strip()
    return not s or s.startswith("--")


def rendered(goals: list[str]) -> str:
    if not goals:
        return "no goals"
    return "\n---\n".join(f"```lean\n{g}\n```" for g in goals)


# ---------------------------------------------------------------------------------------------
# Script


@dataclass
class Script:
    declarations: dict[str, list[str]] = field(default_factory=dict)
    tactics: dict[str, dict[str, Any]] = field(default_factory=dict)
    nested: dict[str, list[str]] = field(default_factory=dict)
    """Goals of the nested `by` block opened by a line (`have h : p := by`, a `calc` step)."""
    hang: frozenset[str] = frozenset()
    crash: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: str) -> Script:
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Script:
        def check(ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"bad fake Lean script: {what}")

        def goal_list(x: Any) -> bool:
            return isinstance(x, list) and all(isinstance(g, str) for g in x)

        check(isinstance(data, dict) and set(data) <= _SCRIPT_KEYS, f"keys must be in {sorted(_SCRIPT_KEYS)}")
        for key, goals in data.get("declarations", {}).items():
            check(goal_list(goals), f"declarations[{key!r}] must be a list of goal strings")
        for goal, rules in data.get("tactics", {}).items():
            for tac, rule in rules.items():
                where = f"tactics[{goal!r}][{tac!r}]"
                if isinstance(rule, dict):
                    check(set(rule) <= _RULE_KEYS, f"{where}: keys must be in {sorted(_RULE_KEYS)}")
                    check(goal_list(rule.get("result", [])), f"{where}.result must be a list of goals")
                else:
                    check(goal_list(rule), f"{where} must be a list of goals or an object")
        for opener, goals in data.get("nested", {}).items():
            check(goal_list(goals), f"nested[{opener!r}] must be a list of goal strings")
        return cls(
            declarations=dict(data.get("declarations", {})),
            tactics={g: dict(rules) for g, rules in data.get("tactics", {}).items()},
            nested=dict(data.get("nested", {})),
            hang=frozenset(data.get("hang", [])),
            crash=frozenset(data.get("crash", [])),
        )

    def rule(self, goal: str, tactic: str) -> Any:
        for key in (goal, "*"):
            rules = self.tactics.get(key, {})
            if tactic in rules:
                return rules[tactic]
        return None

    def scripted(self, tactic: str) -> bool:
        """`tactic` is `sorry`, a rule key for some goal (or `*`), or listed in `hang`/`crash`."""
        if tactic == "sorry" or tactic in self.hang or tactic in self.crash or tactic in self.nested:
            return True
        return any(tactic in rules for rules in self.tactics.values())


# ---------------------------------------------------------------------------------------------
# Result types


@dataclass
class Tactic:
    line: int
    start: int  # code-point columns on `line`, [start, end)
    end: int
    text: str
    parsed: bool = True
    before: list[str] | None = None  # goals before it, None = not elaborated
    after: list[str] | None = None  # goals after it, None = failed / not elaborated
    failed: bool = False
    bullet: int | None = None  # column of a focusing dot `·` / `case … =>` / `next =>` before it
    case: str | None = None  # `case tag =>` ('tag') or `next =>` ('_') before the tactic
    calc_step: bool = False  # a `_ = … := …` calc step: not a tactic, only maybe a nested opener
    inner_column: int | None = None  # a line ending in `by` / `=>`: column of the block it opens


@dataclass
class Block:
    tactics: list[Tactic]
    region_end: Pos | None  # end (exclusive) of the last tactic's trailing whitespace; None = EOF


@dataclass
class Result:
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    delay_ms: int = 0
    hang: bool = False
    crash: bool = False


# ---------------------------------------------------------------------------------------------
# Elaboration


class _Elaborator:
    def __init__(self, text: str, script: Script) -> None:
        self.lines = text.split("\n")
        self.script = script
        self.result = Result()

    # -- diagnostics ---------------------------------------------------------------------------
    def lsp(self, pos: Pos) -> dict[str, int]:
        line, col = pos
        return {"line": line, "character": cp_to_utf16(self.lines[line], col)}

    def diag(self, start: Pos, end: Pos, severity: int, message: str, tags: list[int] | None = None) -> None:
        full = {"start": self.lsp(start), "end": self.lsp(end)}
        # `range` is truncated to one line for multi-line messages; `fullRange` is the real span.
        rng = full if start[0] == end[0] else {**full, "end": {"line": start[0] + 1, "character": 0}}
        d: dict[str, Any] = {"range": rng, "fullRange": full, "severity": severity, "source": "Lean 4"}
        d["message"] = message
        if tags:
            d["leanTags"] = tags
        self.result.diagnostics.append(d)

    # -- document structure --------------------------------------------------------------------
    def next_token(self, line: int) -> Pos | None:
        """Position of the first non-whitespace, non-comment character at or after line `line`."""
        for i in range(line, len(self.lines)):
            if not _is_skippable(self.lines[i]):
                return (i, _indent(self.lines[i]))
        return None

    def eof(self) -> Pos:
        return (len(self.lines) - 1, len(self.lines[-1]))

    def run(self) -> Result:
        i = 0
        while i < len(self.lines) and not (self.result.hang or self.result.crash):
            m = _DECL_RE.match(self.lines[i])
            i = self.declaration(i, m) if m else i + 1
        return self.result

    def declaration(self, first: int, m: re.Match[str]) -> int:
        """Handle the declaration starting at line `first`; returns the line to continue scanning at."""
        indent = len(m.group(1))
        if m.group(3):
            key, name_col, name_end = m.group(3), m.start(3), m.end(3)
        else:
            key, name_col, name_end = "", m.start(4), m.end(4)
        # Find the line ending with `:= by`; a `:=` without `by` is a term proof (ignored).
        # `:= by tac` on one line: the block's first tactic follows `by` (Lean's `by` parses a
        # `tacticSeq` whose column is its first tactic's, `L4:src/Lean/Parser/Term.lean` `byTactic`).
        stmt, by_line, one_line = [], None, None
        for j in range(first, len(self.lines)):
            if j > first and _DECL_RE.match(self.lines[j]):
                return j
            code = strip_comment(self.lines[j]).rstrip()
            stmt.append(code)
            if ":=" in code:
                if re.search(r":=\s*by$", code) or (one_line := re.search(r":=\s*(by)\s+\S", code)):
                    by_line = j
                break
        if by_line is None:
            return first + 1
        by_pos = (
            by_line,
            one_line.start(1) if one_line else len(strip_comment(self.lines[by_line]).rstrip()) - 2,
        )
        if not key:
            key = " ".join(" ".join(stmt).rsplit(":=", 1)[0].split())
        # Tactic block: following lines indented deeper than the declaration.
        j = by_line + 1
        tactics: list[Tactic] = []
        if one_line:
            code = strip_comment(self.lines[by_line]).rstrip()
            tactics.append(Tactic(by_line, one_line.end() - 1, len(code), code[one_line.end() - 1 :]))
        while j < len(self.lines):
            line = self.lines[j]
            if not _is_skippable(line):
                if _indent(line) <= indent:
                    break
                tactics.append(self.tactic_line(j))
            j += 1
        self.set_inner_columns(tactics)
        if not tactics:
            tok = self.next_token(by_line + 1)
            pos = tok or self.eof()
            msg = "expected '{' or tactic" if tok else "unexpected end of input; expected '{'"
            self.diag(pos, pos, ERROR, msg)
            return j
        if key not in self.script.declarations:
            msg = f"unknown declaration in fake Lean script: {key}"
            self.diag((first, name_col), (first, name_end), ERROR, msg)
            return j
        last = tactics[-1]
        trail = self.next_token(last.line + 1)
        self.result.blocks.append(Block(tactics, trail))
        goals = list(self.script.declarations[key])
        self.block(tactics, goals, by_pos, ((first, name_col), (first, name_end)))
        return j

    def tactic_line(self, j: int) -> Tactic:
        """Line `j` of a tactic block: a tactic, maybe after `· ` / `case tag => ` / `next => `,
        or a `calc` step `_ = … := …` (not a tactic)."""
        code = strip_comment(self.lines[j]).rstrip()
        start = _indent(code)
        if code[start:].startswith("· "):  # `· tac` focuses the first goal
            after_dot = start + 1 + (len(code[start + 1 :]) - len(code[start + 1 :].lstrip()))
            return Tactic(j, after_dot, len(code), code[after_dot:], bullet=start)
        if m := _CASE_RE.match(code, start):  # `case tag =>` / `next =>`, maybe a tactic after it
            return Tactic(j, m.end(), len(code), code[m.end() :], bullet=start, case=m[2] or "_")
        if code[start:].startswith("_ "):
            return Tactic(j, start, len(code), code[start:], calc_step=True)
        return Tactic(j, start, len(code), code[start:])

    def set_inner_columns(self, tactics: list[Tactic]) -> None:
        """A line ending in `by` or `=>` opens a block: the lines after it indented deeper than it
        (Lean lays tactic sequences out by column; the first line's column is the block's)."""
        for k, t in enumerate(tactics):
            code = t.text if t.text else "=>" if t.case else ""
            if not re.search(r"(:=\s*by|=>)$", code) or k + 1 == len(tactics):
                continue
            own = t.bullet if t.bullet is not None else t.start
            following = tactics[k + 1]
            column = following.bullet if following.bullet is not None else following.start
            if column > own:
                t.inner_column = column

    # -- tactic block --------------------------------------------------------------------------
    def parse_error(self, t: Tactic) -> str | None:
        if t.calc_step or (t.case and not t.text):
            return None
        return tactic_parse_error(t.text, self.script)

    def block(self, tactics: list[Tactic], goals: list[str], by_pos: Pos, name: tuple[Pos, Pos]) -> None:
        n_ok = len(tactics)
        for k, t in enumerate(tactics):
            err = self.parse_error(t)
            if err:
                t.parsed = False
                self.diag((t.line, t.start), (t.line, t.end), ERROR, err)
                n_ok = k
                break
        used_sorry = aborted = False
        # Open inner blocks (`·`, `case`/`next`, a nested `by`): (their column, goals outside, opener).
        focus: list[tuple[int, list[str], Tactic]] = []

        def close_focus(column: int) -> bool:
            """Leave the blocks that a line at `column` is outside of; False if one left goals open."""
            nonlocal goals
            while focus and focus[-1][0] > column:
                _, outside, opener = focus.pop()
                if goals:
                    msg = "unsolved goals\n" + "\n\n".join(goals)
                    start = opener.bullet if opener.bullet is not None else opener.start
                    span = ((opener.line, start), (opener.line, opener.end))
                    self.diag(*span, ERROR, msg, [UNSOLVED_GOALS_TAG])
                    return False
                goals = outside
            return True

        def fail(t: Tactic, message: str) -> None:
            nonlocal aborted
            self.diag((t.line, t.start), (t.line, t.end), ERROR, message)
            t.failed = aborted = True

        for t in tactics[:n_ok]:
            column = t.bullet if t.bullet is not None else t.start
            # A `_` calc step ends a block at its own column too: it cannot be one of its tactics.
            if not close_focus(column - 1 if t.calc_step else column):
                aborted = True
                break
            if t.bullet is not None:  # `· tac`, `case tag => tac`, `next => tac`: focus one goal
                picked = _pick_goal(goals, t.case)
                if picked is None:
                    fail(t, "No goals to be solved" if not goals else f"Case tag '{t.case}' not found.")
                    break
                inner = t.start if t.text else (t.inner_column or 1 << 30)
                focus.append((inner, goals[:picked] + goals[picked + 1 :], t))
                goals = [_untagged(goals[picked]) if t.case else goals[picked]]
                if not t.text:
                    t.before = t.after = goals
                    continue
            if t.text in self.script.hang:
                self.result.hang = True
                return
            if t.text in self.script.crash:
                self.result.crash = True
                return
            t.before = goals
            if t.calc_step:  # a step of the enclosing `calc`, not a tactic on these goals
                pass
            elif not goals:
                fail(t, "No goals to be solved")
            elif t.text == "sorry":
                used_sorry = True
                goals = goals[1:]
            else:
                rule = self.script.rule(goals[0], t.text)
                span = ((t.line, t.start), (t.line, t.end))
                if isinstance(rule, dict):
                    self.result.delay_ms += int(rule.get("delay_ms", 0))
                    for key, sev in (("info", INFORMATION), ("warning", WARNING)):
                        if key in rule:
                            self.diag(*span, sev, rule[key])
                if rule is None:
                    fail(t, f"fake Lean: no rule for tactic '{t.text}' on this goal")
                elif isinstance(rule, dict) and "error" in rule:
                    fail(t, rule["error"])
                else:
                    new = rule if isinstance(rule, list) else rule.get("result", [])
                    goals = list(new) + goals[1:]
            if aborted:
                break
            if t.inner_column is not None and t.text.endswith("by"):  # a nested `by` block opens
                if t.text not in self.script.nested:
                    fail(t, f"fake Lean: no nested goals for '{t.text}'")
                    break
                focus.append((t.inner_column, goals, t))
                goals = list(self.script.nested[t.text])
            t.after = goals
        if not aborted and not close_focus(-1):
            aborted = True
        if goals and not aborted and n_ok == len(tactics):
            last = tactics[-1]
            msg = "unsolved goals\n" + "\n\n".join(goals)
            self.diag(by_pos, (last.line, last.end), ERROR, msg, [UNSOLVED_GOALS_TAG])
        if used_sorry:
            self.diag(*name, WARNING, "declaration uses `sorry`")


def _pick_goal(goals: list[str], case: str | None) -> int | None:
    """Index of the goal a `·` (the first), `next =>` (the first) or `case tag =>` focuses."""
    if not goals:
        return None
    if case is None or case == "_":
        return 0
    for i, goal in enumerate(goals):
        if goal.split("\n", 1)[0] == f"case {case}":
            return i
    return None


def _untagged(goal: str) -> str:
    """`case` clears the focused goal's tag, so Lean shows it without its `case tag` line."""
    first, _, rest = goal.partition("\n")
    return rest if first.startswith("case ") else goal


def tactic_parse_error(tactic: str, script: Script) -> str | None:
    """The parse error of one tactic (None: it parses); shared with the fake REPL's tactic mode."""
    if script.scripted(tactic):
        return None
    if tactic.split()[0] not in KNOWN_TACTICS:
        return "unknown tactic"
    stack: list[str] = []
    for ch in tactic:
        if ch in _BRACKETS:
            stack.append(_BRACKETS[ch])
        elif ch in _BRACKETS.values():
            expected = stack.pop() if stack else None
            if expected != ch:
                return f"unexpected token '{ch}'; expected term"
    return f"unexpected end of input; expected '{stack[-1]}'" if stack else None


def declarations_from(text: str, first_line: int = 0) -> int:
    """How many declarations a worker re-elaborates, in order, after an edit on `first_line`: the
    one containing that line and every later one (commands before it are reused)."""
    lines = text.split("\n")
    if first_line >= len(lines):
        return 0  # nothing changed
    starts = [i for i, line in enumerate(lines) if _DECL_RE.match(line)]
    return sum(1 for i in starts if i > first_line) + (1 if any(i <= first_line for i in starts) else 0)


def first_changed_line(old: str, new: str) -> int:
    """The first line on which two versions of a document differ (len(lines) if none)."""
    a, b = old.split("\n"), new.split("\n")
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else len(a)


def elaborate(text: str, script: Script) -> Result:
    return _Elaborator(text, script).run()


# ---------------------------------------------------------------------------------------------
# plainGoal


def _goal_json(goals: list[str]) -> dict[str, Any]:
    return {"goals": list(goals), "rendered": rendered(goals)}


def plain_goal(result: Result, text: str, line: int, char16: int) -> dict[str, Any] | None:
    """Answer ``$/lean/plainGoal`` at LSP position (line, UTF-16 char) of the elaborated `text`."""
    lines = text.split("\n")
    if line >= len(lines):
        line, char16 = len(lines) - 1, utf16_len(lines[-1])
    pos = (line, utf16_to_cp(lines[line], char16))
    eof = (len(lines) - 1, len(lines[-1]))
    for block in result.blocks:
        ts = block.tactics
        for k, t in enumerate(ts):
            start = (t.line, t.start)
            if k + 1 < len(ts):
                inside = start <= pos < (ts[k + 1].line, ts[k + 1].start)
            else:
                # trailing whitespace/comments of the last tactic, at least one char, or up to EOF
                stop = block.region_end or eof
                stop = max(stop, (t.line, t.end + 1))
                inside = start <= pos < stop or (block.region_end is None and pos == eof and pos >= start)
            if not inside:
                continue
            if not t.parsed or t.before is None:
                return None
            if pos == start or t.failed:
                return _goal_json(t.before)
            return _goal_json(t.after) if t.after is not None else None
    return None
