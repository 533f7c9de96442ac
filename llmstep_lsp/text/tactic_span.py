"""Where a tactic sits on a line of Lean: its span, and what around it is not part of it.

Pure text work over one line. The span is what an edit replaces: a `sorry`/`admit` placeholder,
or the tactic the user typed, never a trailing `-- comment` nor the `<;> …` / `; …` that follows a
tactic (Lean: `t <;> s` and `t; s` are one tactic sequence item built from two tactics). Text in
string literals and inside brackets is never split.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_PLACEHOLDER = re.compile(r"(?<![\w.'])(?:sorry|admit)(?![\w'!?])")
_BY = re.compile(r"(?<![\w.'])by(?=\s)")


def code_end(line: str) -> int:
    """Index where the line's code ends: before a trailing `--` comment and the spaces before it
    (a `--` inside a string literal is not a comment)."""
    for index in _outside_strings(line, 0, len(line)):
        if line.startswith("--", index):
            return len(line[:index].rstrip())
    return len(line.rstrip())


def _outside_strings(line: str, start: int, end: int) -> Iterator[int]:
    """Indices in start..end of the characters outside string literals (the quotes excluded; a
    string is assumed to open at or after `start`)."""
    in_string = False
    index = start
    while index < end:
        ch = line[index]
        if in_string:
            if ch == "\\":
                index += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        else:
            yield index
        index += 1


def _top_level(line: str, start: int, end: int) -> list[int]:
    """Indices in start..end that are outside string literals and brackets."""
    depth, found = 0, []
    for index in _outside_strings(line, start, end):
        ch = line[index]
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth = max(0, depth - 1)
        elif depth == 0:
            found.append(index)
    return found


def tactic_end(line: str, start: int, end: int) -> int:
    """End of the tactic starting at `start`: before a top-level `<;>` or `;` (and the spaces before
    it), else `end`."""
    for index in _top_level(line, start, end):
        if line.startswith("<;>", index) or line[index] == ";":
            return len(line[:index].rstrip()) if line[:index].strip() else index
    return end


def placeholder(line: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of the first top-level `sorry`/`admit` in line[start:end], if any."""
    top = set(_top_level(line, start, end))
    for match in _PLACEHOLDER.finditer(line, start, end):
        if match.start() in top:
            return match.start(), match.end()
    return None


def after_by(line: str, end: int) -> int | None:
    """Index of the tactic that follows the last top-level `by` in line[:end] (a one-line `by`
    block), or None when no `by` is followed by code."""
    top = set(_top_level(line, 0, end))
    starts = [m.end() for m in _BY.finditer(line, 0, end) if m.start() in top]
    for index in reversed(starts):
        rest = line[index:end]
        if rest.strip():
            return index + len(rest) - len(rest.lstrip())
    return None
