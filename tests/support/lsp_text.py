"""An independent reference model of LSP text: what an editor does with positions and edits.

Written from the specification, not from `llmstep_lsp.text`: the text is held as a list of UTF-16
code units (what VS Code's model holds), lines are found by scanning for CR and LF, and a position
is clamped as VS Code's `TextModel._validatePosition` / `validateRange` clamp it
(`microsoft/vscode src/vs/editor/common/model/textModel.ts`). Tests apply the sidecar's edits with
it and compare the text a user would see.
"""

from __future__ import annotations

from lsprotocol import types

CR, LF = 0x0D, 0x0A


def _units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


def _text(units: list[int]) -> str:
    return b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le", "surrogatepass")


def _lines(units: list[int]) -> list[tuple[int, int]]:
    """(start, content end) of each line, in code units."""
    lines, start, i = [], 0, 0
    while i < len(units):
        if units[i] == CR:
            lines.append((start, i))
            i += 2 if i + 1 < len(units) and units[i + 1] == LF else 1
            start = i
        elif units[i] == LF:
            lines.append((start, i))
            i += 1
            start = i
        else:
            i += 1
    lines.append((start, len(units)))
    return lines


def _offset(units: list[int], line: int, character: int, widen: bool) -> int:
    lines = _lines(units)
    if line < 0:
        return 0
    if line >= len(lines):
        return len(units)
    start, end = lines[line]
    offset = start + min(max(character, 0), end - start)
    if start < offset < end and 0xD800 <= units[offset - 1] <= 0xDBFF and 0xDC00 <= units[offset] <= 0xDFFF:
        offset += 1 if widen else -1
    return offset


def apply_utf16(text: str, start: tuple[int, int], end: tuple[int, int], new_text: str) -> str:
    """`text` after replacing the UTF-16 range start..end (line, character) by `new_text`."""
    units = _units(text)
    if end < start:
        start, end = end, start
    collapsed = start == end
    a = _offset(units, *start, widen=False)
    b = _offset(units, *end, widen=not collapsed)
    a, b = min(a, b), max(a, b)
    return _text(units[:a] + _units(new_text) + units[b:])


def apply_edit(text: str, edit: types.TextEdit | types.InlineCompletionItem) -> str:
    """`text` after an editor applies `edit` (UTF-16 columns)."""
    assert edit.range is not None
    new_text = edit.new_text if isinstance(edit, types.TextEdit) else str(edit.insert_text)
    r = edit.range
    return apply_utf16(text, (r.start.line, r.start.character), (r.end.line, r.end.character), new_text)


def line_of(text: str, line: int) -> str:
    """Line `line` of `text` as an editor shows it."""
    units = _units(text)
    start, end = _lines(units)[line]
    return _text(units[start:end])
