"""The suggestion point: which line of a proof a suggestion goes on, and the shadow texts for it.

Pure text work, no Lean. The *goal* is never guessed from text: these functions only say where
the tactic goes (line, indentation, what the user already typed) and build the shadow copies in
which Lean is asked (`sorry` in the line's place) and candidates are checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmstep_lsp.positions import utf16_len

# Lines that start a command are never inside a tactic block.
_COMMAND_START = re.compile(
    r"^(theorem|lemma|def|example|instance|abbrev|structure|class|inductive|import|open|namespace|"
    r"section|end|variable|universe|set_option|attribute|noncomputable|private|protected|macro|syntax|"
    r"#|@\[|/-|--)"
)
_DECLARATION_START = re.compile(r"^(theorem|lemma|example|def|instance|abbrev|have|show|suffices|·|\.)")
_TRAILING_COMMENT = re.compile(r"\s+--.*$")
_CALC_STEP = re.compile(r"^(?:calc\b|_\s)")
_STRUCTURE_MARKER = re.compile(r"^(?:[·.](?=\s|$)|(?:case\s+[^=]*?|next(?:\s+[^=]*?)?)\s*=>)\s*")
INDENT_STEP = "  "


@dataclass(frozen=True)
class SuggestionPoint:
    line: int
    indent: str
    """Everything on the line before the tactic: indentation, and a focusing dot (`· `) or a
    `case tag => ` / `next => ` if the tactic follows one."""
    prefix: str
    """What the user already typed (the `llmstep "prefix"` argument); '' on an empty or `sorry` line."""
    line_text: str
    """The line as it is in the editor (without its line break)."""
    holds_sorry: bool
    block_indent: str = ""
    """Indentation of the lines that continue this tactic's block ('' = the same as `indent`)."""

    @property
    def continuation(self) -> str:
        return self.block_indent or self.indent

    @property
    def tactic_column_utf16(self) -> int:
        return utf16_len(self.indent)

    def line_with(self, tactic: str) -> str:
        return self.indent + tactic


def find_suggestion_point(lines: list[str], line: int) -> SuggestionPoint | None:
    """The suggestion point on `line`, or None where no tactic can go (a command, out of range)."""
    if not 0 <= line < len(lines):
        return None
    text = lines[line].rstrip("\r\n")
    content = _TRAILING_COMMENT.sub("", text).strip()
    if _COMMAND_START.match(content) or content.endswith(":= by") or content == "by":
        return None
    if not any(re.search(r"\bby\b", lines[i]) for i in range(line)):
        return None  # no tactic block can be open above this line
    existing_indent = text[: len(text) - len(text.lstrip())]
    # An empty line gets the block's indentation unless the user already typed some.
    indent = existing_indent or ("" if content else _indent_for_empty_line(lines, line))
    block_indent = ""
    if marker := _STRUCTURE_MARKER.match(content):
        # `· tac`, `case h => tac`, `next => tac`: the block they open continues in the column
        # of `tac` (Lean's tactic sequences are laid out by column).
        lead = marker[0] if marker[0].endswith(" ") else marker[0] + " "
        content = content[len(marker[0]) :].strip()
        indent += lead
        block_indent = " " * len(indent)
    holds_sorry = content == "sorry"
    return SuggestionPoint(
        line=line,
        indent=indent,
        prefix="" if holds_sorry else content,
        line_text=text,
        holds_sorry=holds_sorry,
        block_indent=block_indent,
    )


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


_DECLARATION_HEAD = re.compile(
    r"^\s*(?:@\[[^\]]*\]\s*)?(?:private |protected |noncomputable )*"
    r"(theorem|lemma|example|def|instance|abbrev)\b\s*([^\s:({\[]*)"
)


@dataclass(frozen=True)
class Declaration:
    start_line: int
    name: str | None
    text: str
    """From the declaration's first line up to (not including) the suggestion line."""


def enclosing_declaration(lines: list[str], line: int) -> Declaration | None:
    """The theorem/lemma/example the suggestion line belongs to (the nearest one above it)."""
    for start in range(min(line, len(lines)) - 1, -1, -1):
        match = _DECLARATION_HEAD.match(lines[start])
        if match:
            name = match[2] if match[1] != "example" and match[2] else None
            return Declaration(start, name, "\n".join(lines[start:line]))
    return None


def split_lines(text: str) -> list[str]:
    """Lines as LSP counts them (only \n, \r\n and \r end a line), without their line breaks."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


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
