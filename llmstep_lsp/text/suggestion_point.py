"""The suggestion point: which line of a proof a suggestion goes on, and the shadow texts for it.

Pure text work, no Lean. The *goal* is never guessed from text: these functions only say where
the tactic goes (line, indentation, what the user already typed) and build the shadow copies in
which Lean is asked (`sorry` in the line's place) and candidates are checked. (Training data of
goal/tactic pairs is `training/proofsteps.py`, unrelated.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from llmstep_lsp.text.encoding import utf16_len
from llmstep_lsp.text.tactic_span import after_by, code_end, placeholder, tactic_end

# Lines that start a command are never inside a tactic block.
_COMMAND_START = re.compile(
    r"^(theorem|lemma|def|example|instance|abbrev|structure|class|inductive|import|open|namespace|"
    r"section|end|variable|universe|set_option|attribute|noncomputable|private|protected|macro|syntax|"
    r"#|@\[|/-|--)"
)
_DECLARATION_START = re.compile(r"^(theorem|lemma|example|def|instance|abbrev|have|show|suffices|·|\.)")
_TRAILING_COMMENT = re.compile(r"\s+--.*$")
_CALC_STEP = re.compile(r"^(?:calc\b|_\s)")
_STRUCTURE_MARKER = re.compile(r"(?:[·.](?=\s|$)|(?:case\s+[^=]*?|next(?:\s+[^=]*?)?)\s*=>)\s*")
INDENT_STEP = "  "


_DECLARATION_HEAD = re.compile(
    r"^\s*(?:@\[[^\]]*\]\s*)?(?:private |protected |noncomputable )*"
    r"(theorem|lemma|example|def|instance|abbrev)\b\s*([^\s:({\[]*)"
)


@dataclass(frozen=True)
class Declaration:
    """The theorem/lemma/example/def/instance/abbrev a suggestion line belongs to."""

    start_line: int
    """0-based line of its head (`theorem foo …`, attributes and modifiers included)."""
    name: str | None
    """Its name as written (None for `example`, and for a declaration written without one)."""
    text: str
    """From the declaration's first line up to (not including) the suggestion line."""


def enclosing_declaration(lines: list[str], line: int) -> Declaration | None:
    """The theorem/lemma/example the suggestion line belongs to (the nearest one above it, or the
    line itself for a proof on the declaration's own line: its text is then '')."""
    for start in range(min(line, len(lines) - 1), -1, -1):
        match = _DECLARATION_HEAD.match(lines[start])
        if match:
            name = match[2] if match[1] != "example" and match[2] else None
            return Declaration(start, name, "\n".join(lines[start:line]))
    return None


@dataclass(frozen=True)
class SuggestionPoint:
    """Where a tactic goes: a span of one line, in code points of that line's text.

    `indent` is everything the new line has before the tactic, `start..end` what an edit replaces
    in `line_text` (a placeholder, the typed tactic, or an empty line's whitespace); the rest of the
    line (a comment, a `<;> …` tail) stays.
    """

    line: int
    indent: str
    """Everything on the line before the tactic: indentation, a focusing dot (`· `), a
    `case tag => `, or code such as `theorem t : p := by ` or `constructor <;> `."""
    prefix: str
    """What the user already typed (the `llmstep "prefix"` argument); '' on an empty or `sorry` line."""
    line_text: str
    """The line as it is in the editor (without its line break)."""
    holds_sorry: bool
    block_indent: str = ""
    """Indentation of the lines that continue this tactic's block ('' = the same as `indent`)."""
    start: int = -1
    """Code-point index in `line_text` where the replaced span starts (-1: after `indent`)."""
    end: int = -1
    """Code-point index in `line_text` where the replaced span ends (-1: the line's end)."""
    alternatives: tuple[str, ...] = ()
    """Other indentations an empty line may belong to, most likely first: Lean is asked there
    when the goal at `indent` is closed or missing (the block above is finished)."""
    declaration: Declaration | None = None
    """The declaration the line belongs to (`enclosing_declaration`), None outside any: computed
    once, by `find_suggestion_point`, and read from here by every probe, prompt and cache key of
    the request (it depends on the lines above the point and its own line's head: probes keep both)."""

    @property
    def continuation(self) -> str:
        """What later lines of this tactic's block start with (their indentation)."""
        return self.block_indent or self.indent

    @property
    def tactic_column_utf16(self) -> int:
        """The tactic's column in UTF-16 units, as Lean's server counts it."""
        return utf16_len(self.indent)

    @property
    def span(self) -> tuple[int, int]:
        """(start, end): the code-point span of `line_text` an edit replaces."""
        start = len(self.indent) if self.start < 0 else self.start
        return start, len(self.line_text) if self.end < 0 else self.end

    @property
    def tail(self) -> str:
        """The code after the span on its line, which an edit keeps (a `<;> simp` or `; rfl` tail, a
        closing bracket of `(fun x => by sorry)`), without a trailing comment; '' for most points."""
        _, end = self.span
        return self.line_text[end : max(end, code_end(self.line_text))]

    def line_with(self, tactic: str) -> str:
        """The line as Lean is asked about it: `indent` + `tactic` + the code tail the edit keeps (a
        comment dropped), so what Lean checks is what the editor will hold."""
        return self.indent + tactic + self.tail

    def replacement(self, tactic: str) -> str:
        """What replaces `span` for `tactic` (with the indentation an empty line does not have yet)."""
        return self.indent[self.span[0] :] + tactic

    def at_indent(self, indent: str) -> SuggestionPoint:
        """The same empty line, read as part of the block at `indent`."""
        return replace(self, indent=indent, block_indent="", alternatives=())


def find_suggestion_point(lines: list[str], line: int) -> SuggestionPoint | None:
    """The suggestion point on `line`, or None where no tactic can go (a command, out of range).

    The point is the line's first top-level `sorry`/`admit` (also after `:= by`, `fun x => by` or
    `<;>`), else the tactic after a one-line `by` of a declaration, else the line's tactic up to a
    `<;>`/`;` tail and a comment; an empty line gets the indentation of its block. It carries its
    enclosing declaration, found here once for everything the request does at the point.
    """
    point = _point_on(lines, line)
    return None if point is None else replace(point, declaration=enclosing_declaration(lines, line))


def _point_on(lines: list[str], line: int) -> SuggestionPoint | None:
    """`find_suggestion_point` without the declaration."""
    if not 0 <= line < len(lines):
        return None
    text = lines[line]
    code = code_end(text)
    content = text[:code].strip()
    if not content:
        return _empty_line_point(lines, line)
    if content == "by" or content.endswith((" by", ":= by", "=>")):
        return None  # the block's tactics go on the lines below
    hole = placeholder(text, 0, code)
    if hole is not None and _starts_tactic(text, hole[0]) and _by_before(lines, line, hole[0]):
        start, end = hole
        return SuggestionPoint(
            line, text[:start], "", text, True, _block_indent_before(text, start), start, end
        )
    if _COMMAND_START.match(content):
        # `theorem t : p := by simp`: the tactic after a one-line `by` (its block's column is the
        # tactic's, so later lines of a proof written there line up under it).
        first = after_by(text, code)
        if first is None:
            return None
        end = tactic_end(text, first, code)
        return SuggestionPoint(line, text[:first], text[first:end], text, False, " " * first, first, end)
    if not _by_before(lines, line, 0):
        return None  # no tactic block can be open above this line
    indent = text[: len(text) - len(text.lstrip())]
    block_indent = ""
    start = len(indent)
    if marker := _STRUCTURE_MARKER.match(text, start):
        # `· tac`, `case h => tac`, `next => tac`: the block they open continues in the column
        # of `tac` (Lean's tactic sequences are laid out by column).
        start = marker.end()
        indent = text[:start] if text[:start].endswith(" ") else text[:start] + " "
        block_indent = " " * len(indent)
    end = tactic_end(text, start, code)
    prefix = text[start:end]
    if start >= end:  # a lone `·` or `case h =>`: the tactic goes right after it
        return SuggestionPoint(line, indent, "", text, False, block_indent, start, code)
    return SuggestionPoint(line, indent, prefix, text, False, block_indent, start, end)


def _by_before(lines: list[str], line: int, column: int) -> bool:
    """Whether a `by` occurs above `line` or before `column` on it: a tactic block can be open."""
    return bool(re.search(r"\bby\b", lines[line][:column])) or any(
        re.search(r"\bby\b", lines[i]) for i in range(line)
    )


def _starts_tactic(text: str, start: int) -> bool:
    """Whether a tactic can start at `start`: first on the line, or after `by`, a focusing marker,
    `<;>` or `;` (a `sorry` inside a term, as in `exact f sorry`, is no tactic position)."""
    before = text[:start].rstrip()
    return (
        not before.strip()
        or before.endswith(("<;>", ";"))
        or re.search(r"(?<![\w.'])by$", before) is not None
        or _STRUCTURE_MARKER.fullmatch(text[:start].lstrip()) is not None
    )


def _block_indent_before(text: str, start: int) -> str:
    """Where a tactic block that starts at `start` continues: in that column after `by` or a
    focusing marker, else at the line's own indentation (after `<;>`, `;`, `fun x =>`…)."""
    before = text[:start].rstrip()
    if before.endswith("by") or _STRUCTURE_MARKER.fullmatch(text[:start].lstrip()):
        return " " * start
    return text[: len(text) - len(text.lstrip())]


def _empty_line_point(lines: list[str], line: int) -> SuggestionPoint | None:
    """An empty line's point: the whole line is replaced; its block is decided from the lines
    around (see `_indent_for_empty_line`), with the other open levels as alternatives."""
    if not _by_before(lines, line, 0):
        return None
    text = lines[line]
    # Whitespace already there is a hint, not a fact: editors copy the line above's indentation,
    # which is inside a bullet that may be finished.
    computed = _indent_for_empty_line(lines, line)
    indent = text or computed
    below = _next_code_indent(lines, line)
    candidates = [computed]
    if below is not None and len(below) < len(indent):
        # The next tactic is less indented: the line may belong to its (outer) block.
        candidates.append(below)
    candidates.extend(_open_levels_above(lines, line, len(indent)))
    alternatives = tuple(dict.fromkeys(c for c in candidates if c != indent))
    return SuggestionPoint(line, indent, "", text, False, "", 0, len(text), alternatives)


def _next_code_indent(lines: list[str], line: int) -> str | None:
    for below in range(line + 1, len(lines)):
        text = lines[below]
        if text.strip() and not text.strip().startswith("--"):
            return None if _COMMAND_START.match(text.strip()) else text[: len(text) - len(text.lstrip())]
    return None


def _open_levels_above(lines: list[str], line: int, width: int) -> list[str]:
    """Indentations shallower than `width` of tactic lines above, back to the declaration, deepest
    first: the enclosing blocks an empty line after a finished bullet or `case` may continue."""
    levels: list[str] = []
    for above in range(line - 1, -1, -1):
        text = lines[above]
        content = text.strip()
        if not content or content.startswith("--"):
            continue
        if _COMMAND_START.match(content):
            break
        own = len(text) - len(text.lstrip())
        if own < width:
            width = own
            levels.append(text[:own])
    return levels[:3]


def _indent_for_empty_line(lines: list[str], line: int) -> str:
    for above in range(line - 1, -1, -1):
        text = lines[above].rstrip("\r\n")
        if not text.strip() or text.strip().startswith("--"):
            continue
        indent = text[: len(text) - len(text.lstrip())]
        stripped = _TRAILING_COMMENT.sub("", text).strip()
        if stripped.endswith("by") and _CALC_STEP.match(stripped):
            return _calc_steps_indent(lines, above) + INDENT_STEP
        if stripped.endswith("by"):
            return _block_opener_indent(lines, above) + INDENT_STEP
        if stripped.endswith("=>"):  # `case h =>`, `next =>`, a `match` alternative
            return indent + INDENT_STEP
        if stripped.startswith(("· ", ". ")):
            return indent + INDENT_STEP
        return indent
    return INDENT_STEP


def _calc_steps_indent(lines: list[str], step_line: int) -> str:
    """Indentation of the `_ = …` steps of the calc that `step_line` belongs to: a step's `by`
    block goes deeper than them, or Lean would read the next step as part of the block."""
    own = _indent_width(lines[step_line])
    for below in range(step_line, len(lines)):
        text = lines[below]
        content = text.strip()
        if content.startswith("_ "):
            return text[: _indent_width(text)]
        if below > step_line and content and not content.startswith("--") and _indent_width(text) <= own:
            break  # past the calc, which has no `_` steps yet
    return lines[step_line][:own] + INDENT_STEP


def _block_opener_indent(lines: list[str], by_line: int) -> str:
    """Indentation of the statement that `by` on `by_line` belongs to (it may span lines)."""
    for above in range(by_line, max(-1, by_line - 8), -1):
        text = lines[above]
        if _DECLARATION_START.match(text.strip()):
            return text[: len(text) - len(text.lstrip())]
    text = lines[by_line]
    return text[: len(text) - len(text.lstrip())]


def declaration_end(lines: list[str], start: int, after: int) -> int:
    """The index of the first line at or after `after` that starts the next command (code at the
    indentation of the declaration headed at `start`, or less), or `len(lines)`: where the declaration
    ends. Comment lines and blank lines never end it."""
    head = lines[start]
    width = len(head) - len(head.lstrip())
    for index in range(after, len(lines)):
        text = lines[index]
        if text.strip() and not text.lstrip().startswith("--") and len(text) - len(text.lstrip()) <= width:
            return index
    return len(lines)


def goal_probe_text(lines: list[str], point: SuggestionPoint) -> str:
    """The document with `sorry` in the suggestion line's place: real Lean parses an empty block or
    a half-typed tactic as an error, but elaborates `sorry` and reports the goal before it."""
    return "\n".join([*lines[: point.line], point.line_with("sorry"), *lines[point.line + 1 :]])


def candidate_probe_text(lines: list[str], point: SuggestionPoint, tactic: str) -> str:
    """The document with `tactic` at the suggestion point, then `sorry`, the rest of the block dropped.

    A valid tactic then leaves only the `sorry` warning; one that closes every goal makes the
    trailing `sorry` fail with "no goals"; an invalid one has an error on its own line.
    """
    rest = point.line + 1
    width = len(point.continuation)
    while width and rest < len(lines) and (not lines[rest].strip() or _indent_width(lines[rest]) >= width):
        if lines[rest].strip().startswith("_ "):
            break  # the next step of a `calc`, not a tactic of this block
        rest += 1
    probe = [point.line_with(tactic), point.continuation + "sorry"]
    return "\n".join([*lines[: point.line], *probe, *lines[rest:]])


def _indent_width(text: str) -> int:
    return len(text) - len(text.lstrip())
