"""Where a Lean file's project is, and how to start a Lean server for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_MARKERS = ("lakefile.lean", "lakefile.toml", "lean-toolchain")
LAKE_MARKERS = ("lakefile.lean", "lakefile.toml")
# Lean's default 200 ms delay before reporting diagnostics would be pure latency for us.
SERVER_ARGS = ("-Dserver.reportDelayMs=0",)


@dataclass(frozen=True)
class LeanProject:
    """A Lean project: its root directory, and whether a lakefile makes it a Lake workspace."""

    root: Path
    uses_lake: bool

    def server_command(self, override: tuple[str, ...] | None = None) -> list[str]:
        """The server's argv: `override` (the `leanCommand` setting) as given, else what VS Code's
        lean4 extension runs (`vscode-lean4 src/leanclient.ts`): `lake serve --` with a lakefile,
        plain `lean --server` without, each with `-Dserver.reportDelayMs=0`."""
        if override:
            return list(override)
        if self.uses_lake:
            return ["lake", "serve", "--", *SERVER_ARGS]
        return ["lean", "--server", *SERVER_ARGS]


def find_project(path: Path, override_root: str | None = None) -> LeanProject:
    """The project containing `path`: the nearest ancestor with a lakefile or lean-toolchain.

    Falls back to the file's own directory (then the server is plain `lean --server`).
    """
    if override_root:
        root = Path(override_root).expanduser().resolve()
        return LeanProject(root, any((root / m).exists() for m in LAKE_MARKERS))
    start = path.resolve()
    start = start if start.is_dir() else start.parent
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in PROJECT_MARKERS):
            return LeanProject(directory, any((directory / m).exists() for m in LAKE_MARKERS))
    return LeanProject(start, False)
