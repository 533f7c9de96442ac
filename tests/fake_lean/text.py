"""Text and UTF-16 helpers of the fake Lean server (Lean's `FileMap` counts lines at `\\n` only,
`L4:src/Lean/Data/Position.lean`; LSP columns are UTF-16, `L4:src/Lean/Data/Lsp/Utf16.lean`)."""

from __future__ import annotations

from typing import Any


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units (astral characters such as 𝓝 count 2)."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in s)


def cp_to_utf16(line_text: str, col: int) -> int:
    """Code-point column on ``line_text`` -> UTF-16 column."""
    return utf16_len(line_text[:col])


def utf16_to_cp(line_text: str, col16: int) -> int:
    """UTF-16 column -> code-point column (clamped to the line; inside a surrogate pair -> that char)."""
    units = 0
    for i, ch in enumerate(line_text):
        w = 2 if ord(ch) > 0xFFFF else 1
        if units + w > col16:
            return i
        units += w
    return len(line_text)


def lsp_to_offset(text: str, line: int, char16: int) -> int:
    """LSP position (UTF-16) -> string offset; out-of-range positions clamp to line end / EOF."""
    lines = text.split("\n")
    if line >= len(lines):
        return len(text)
    offset = sum(len(x) + 1 for x in lines[:line])
    return offset + utf16_to_cp(lines[line], max(char16, 0))


def eof_position(text: str) -> dict[str, int]:
    lines = text.split("\n")
    return {"line": len(lines) - 1, "character": utf16_len(lines[-1])}


def apply_change(text: str, change: dict[str, Any]) -> str:
    """Apply one ``TextDocumentContentChangeEvent`` (incremental with UTF-16 range, or full text)."""
    if "range" not in change or change["range"] is None:
        return str(change["text"]).replace("\r\n", "\n")
    rng = change["range"]
    start = lsp_to_offset(text, rng["start"]["line"], rng["start"]["character"])
    end = lsp_to_offset(text, rng["end"]["line"], rng["end"]["character"])
    end = max(start, end)
    return text[:start] + str(change["text"]) + text[end:]
