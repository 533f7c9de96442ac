"""Running the `llmstep-lsp` command line as a user does: a new process, offline."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m llmstep_lsp ARGS` with the hub offline (no test may reach the network)."""
    return subprocess.run(
        [sys.executable, "-m", "llmstep_lsp", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )
