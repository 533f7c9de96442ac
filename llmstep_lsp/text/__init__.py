"""Text as LSP sees it: lines, positions in the negotiated encoding, mirrored documents.

One implementation of line splitting and position encoding, used by mirroring, suggestion
points, edits and shadow documents alike (LSP 3.17, "Text Documents": lines end only at `\\n`,
`\\r\\n` and `\\r`, whatever Python's `str.splitlines` thinks).
"""
