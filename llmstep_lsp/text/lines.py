"""Lines and positions as LSP defines them, and applying a client's change to a text.

LSP 3.17 ("Text Documents"): "To ensure that both client and server split the string into the same
line representation the protocol specifies the following end-of-line sequences: '\\n', '\\r\\n' and
'\\r'." Python's `str.splitlines` also breaks at `\\v \\f \\x1c-\\x1e \\x85 U+2028 U+2029`; those are
ordinary characters here. Positions a client sends outside the text are clamped as VS Code's
`TextModel` clamps them (`microsoft/vscode src/vs/editor/common/model/textModel.ts`,
`_validatePosition` and `validateRange`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmstep_lsp.text.encoding import UTF16, Encoding, index_of

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """The lines of `text` as LSP counts them, without their line breaks (`''` gives `['']`)."""
    return LINE_BREAK.split(text)


def line_break_of(text: str) -> str:
    """The line break `text` uses (its first one; `\n` for a text of one line): what new lines in an
    edit for it are joined with, so a CRLF file stays CRLF in editors that insert text verbatim."""
    match = LINE_BREAK.search(text)
    return match[0] if match else "\n"


def line_starts(text: str) -> list[int]:
    """Code-point offset in `text` where each LSP line starts."""
    return [0, *(match.end() for match in LINE_BREAK.finditer(text))]


@dataclass(frozen=True)
class Position:
    """An LSP position: 0-based line, column in the negotiated encoding's units."""

    line: int
    character: int


def offset_at(text: str, position: Position, encoding: Encoding = UTF16, *, round_up: bool = False) -> int:
    """Code-point offset in `text` of `position`, clamped as VS Code's `_validatePosition` does: a
    line before the first gives the document's start, a line past the last the document's end, a
    column past the line's end the end of its content (never into or past its line break), a
    column inside a character that character's start (its end with `round_up`)."""
    starts = line_starts(text)
    if position.line < 0:
        return 0
    if position.line >= len(starts):
        return len(text)
    start = starts[position.line]
    stop = starts[position.line + 1] if position.line + 1 < len(starts) else len(text)
    content = text[start:stop].rstrip("\r\n")  # without its break: `\r\n`, `\r` or `\n`
    return start + index_of(content, max(0, position.character), encoding, round_up=round_up)


def apply_change(text: str, start: Position, end: Position, new_text: str, encoding: Encoding = UTF16) -> str:
    """`text` with the range start..end replaced by `new_text` (an incremental
    `TextDocumentContentChangeEvent`). A reversed range is read the right way round (VS Code's
    `Range` constructor swaps its ends); a non-empty range with an end inside a character widens to
    cover it, an empty one inside a character moves to its start (`validateRange`)."""
    if (end.line, end.character) < (start.line, start.character):
        start, end = end, start
    collapsed = start == end
    first = offset_at(text, start, encoding)
    last = offset_at(text, end, encoding, round_up=not collapsed)
    first, last = min(first, last), max(first, last)
    return text[:first] + new_text + text[last:]
