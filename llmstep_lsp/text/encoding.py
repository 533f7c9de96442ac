"""Columns in the three LSP position encodings, from and to Python code-point indices.

LSP 3.17 ("Position", `PositionEncodingKind`): a `character` counts UTF-16 code units unless the
client and server agreed on 'utf-8' (bytes) or 'utf-32' (code points). Lean's server counts UTF-16
(`L4:src/Lean/Data/Lsp/Utf16.lean`), and Lean text is full of characters outside the Basic
Multilingual Plane (`𝓝`, `𝔼`) that take two UTF-16 units, four UTF-8 bytes and one code point.
"""

from __future__ import annotations

from typing import Literal

Encoding = Literal["utf-8", "utf-16", "utf-32"]
UTF16: Encoding = "utf-16"
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "utf-16", "utf-32")


def as_encoding(name: object) -> Encoding:
    """The encoding called `name` (an lsprotocol `PositionEncodingKind` or its string); UTF-16, the
    LSP default, for anything else."""
    value = getattr(name, "value", name)
    for encoding in ENCODINGS:
        if value == encoding:
            return encoding
    return UTF16


def char_units(ch: str, encoding: Encoding) -> int:
    """How many units of `encoding` the single code point `ch` takes."""
    code = ord(ch)
    if encoding == "utf-32":
        return 1
    if encoding == "utf-16":
        return 2 if code > 0xFFFF else 1
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def units(text: str, encoding: Encoding = UTF16) -> int:
    """Length of `text` in units of `encoding`."""
    if encoding == "utf-32":
        return len(text)
    return sum(char_units(ch, encoding) for ch in text)


def utf16_len(text: str) -> int:
    """Number of UTF-16 code units in `text` (the unit of Lean's LSP columns)."""
    return units(text, UTF16)


def column_of(line: str, index: int, encoding: Encoding = UTF16) -> int:
    """The column, in `encoding`, of code-point index `index` of `line` (clamped to 0..len(line))."""
    return units(line[: max(0, index)], encoding)


def index_of(line: str, column: int, encoding: Encoding = UTF16, *, round_up: bool = False) -> int:
    """The code-point index in `line` of `column` in `encoding`, clamped to 0..len(line).

    A column inside a character (between the two halves of a surrogate pair, inside a UTF-8
    sequence) moves to that character's start, as VS Code's `TextModel.validatePosition` moves a
    position out of a surrogate pair (`microsoft/vscode src/vs/editor/common/model/textModel.ts`);
    with `round_up`, to its end (how `validateRange` widens a range's end).
    """
    seen = 0
    for index, ch in enumerate(line):
        if seen >= column:
            return index
        width = char_units(ch, encoding)
        if seen + width > column:
            return index + 1 if round_up else index
        seen += width
    return len(line)
