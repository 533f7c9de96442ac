"""Running a real editor (headless Neovim, `emacs --batch`) as an LSP client of the real server.

Each editor is configured by the README's snippet for it, verbatim, with an `llmstep-lsp` command on
PATH that runs this checkout's server wired to the fake Lean server (`llmstep_on_path`). A script
(next to this file) opens a copy of `lean/Examples.lean`, asks for code actions at a proof position,
applies the first one and prints `key: value` lines, which the tests assert on.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO, fake_lean_command
from tests.support.requirements import missing

HERE = Path(__file__).resolve().parent
EDITOR_TIMEOUT_S = 120


def require_editor(binary: str | None, name: str, install: str) -> str:
    """The editor binary; a missing one skips the test locally and fails it under CI."""
    if binary:
        return binary
    missing(f"{name} is not installed ({install}; .ci/run installs it)")


@dataclass
class EditorRun:
    returncode: int
    lines: dict[str, list[str]]
    stdout: str
    stderr: str

    def one(self, key: str) -> str:
        values = self.lines.get(key, [])
        assert len(values) == 1, f"expected one '{key}:' line\n{self}"
        return values[0]

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr (tail)\n{self.stderr[-3000:]}"


def readme_snippet(language: str, first_line: str) -> str:
    """The README's fenced `language` block that starts with `first_line`, verbatim."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"```{language}\n(.*?)```", readme, flags=re.DOTALL)
    [block] = [b for b in blocks if b.startswith(first_line + "\n")]
    return str(block)


def llmstep_on_path(tmp_path: Path, state: Path) -> str:
    """A directory holding an `llmstep-lsp` command, as the README's install puts one on PATH,
    that runs this checkout's server with the fake Lean and no model (the snippets' own
    initializationOptions apply on top). Returns PATH with it first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    settings = json.dumps({"leanCommand": fake_lean_command(state), "model": ""})
    command = shlex.join([sys.executable, "-m", "llmstep_lsp"])
    script = bin_dir / "llmstep-lsp"
    script.write_text(f'#!/bin/sh\nexec {command} "$@" --settings {shlex.quote(settings)}\n')
    script.chmod(0o755)
    return os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])


def run_editor(argv: list[str], tmp_path: Path, line: int, column: int, **extra_env: str) -> EditorRun:
    """Runs the editor with its own HOME/XDG dirs (`extra_env` adds to or overrides the environment)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        **{f"XDG_{kind}_HOME": str(home / kind.lower()) for kind in ("CONFIG", "CACHE", "DATA", "STATE")},
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": "1",
        "LLMSTEP_LINE": str(line),
        "LLMSTEP_COLUMN": str(column),
        **extra_env,
    }
    done = subprocess.run(
        argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=EDITOR_TIMEOUT_S, check=False
    )
    lines: dict[str, list[str]] = defaultdict(list)
    for text in done.stdout.splitlines():
        key, sep, value = text.partition(": ")
        if sep:
            lines[key].append(value)
    return EditorRun(done.returncode, dict(lines), done.stdout, done.stderr)


def fake_lean_violations(state: Path) -> str:
    violations = state / "violations.log"
    return violations.read_text() if violations.exists() else ""


def lean_processes_alive(state: Path) -> list[int]:
    """Fake Lean servers started for this test that are still running (none may outlive the editor)."""
    starts = state / "starts.log"
    alive = []
    for pid in map(int, starts.read_text().split() if starts.exists() else []):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


# At the `sorry` of `theorem two_eq_two : 2 = 2` (line 17, after its two spaces of indentation): the
# automation tactics Lean (the fake's script) accepts there, in the automation list's order.
TWO_EQ_TWO_LINE = 17
TRAILING_COMMENT = " -- the general case later"


def comment_the_sorry(path: Path) -> None:
    """Give `two_eq_two`'s `sorry` a trailing comment: an edit must keep it."""
    lines = path.read_text().split("\n")
    assert lines[TWO_EQ_TWO_LINE - 1] == "  sorry"
    lines[TWO_EQ_TWO_LINE - 1] += TRAILING_COMMENT
    path.write_text("\n".join(lines))


TWO_EQ_TWO_COLUMN = len("  sorry")
TWO_EQ_TWO_ACTIONS = [
    f"Try this: {tactic} (closes goal)"
    for tactic in ("rfl", "simp", "omega", "decide", "norm_num", "linarith", "ring")
]
