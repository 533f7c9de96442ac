"""Looking at processes through /proc (Linux): who is still running, who is whose child, how big."""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC = Path("/proc")


def cmdline(pid: int) -> str:
    """The command line with NULs as spaces; '' for zombies and processes that are gone."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def live_pids_mentioning(marker: str) -> list[int]:
    """Running (not zombie) processes whose command line contains `marker`, except this one."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and marker in cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_until_none_mention(marker: str, timeout_s: float = 15.0) -> list[int]:
    """Wait for every process mentioning `marker` to exit; returns the ones still there."""
    deadline = time.monotonic() + timeout_s
    while (left := live_pids_mentioning(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def status_field(pid: int, name: str) -> str | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
    except OSError:
        return None
    return None


def parent_of(pid: int) -> int | None:
    value = status_field(pid, "PPid")
    return int(value) if value else None


def rss_kib(pid: int) -> int:
    value = status_field(pid, "VmRSS")
    assert value is not None and value.endswith("kB"), f"no VmRSS for pid {pid}"
    return int(value.split()[0])


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    state = status_field(pid, "State")
    return state is not None and not state.startswith("Z")


def sidecar_of(pid: int) -> int | None:
    """The llmstep-lsp process that started `pid` (a Lean or REPL child runs under a guardian, see
    llmstep_lsp/processes/children.py): the nearest ancestor running `llmstep_lsp`'s server."""
    parent = parent_of(pid)
    while parent is not None and parent > 1:
        if "llmstep_lsp serve" in cmdline(parent):
            return parent
        parent = parent_of(parent)
    return None
