"""Which llama.cpp server runs a GGUF file for `backend: "llama.cpp"`, and its command line.

Two routes, tried in this order:
1. `llama-server`, llama.cpp's own server (MIT): the `llamaServer` setting (a path, or a name looked up
   on PATH), else `llama-server` on PATH (llama.cpp's releases, `brew install llama.cpp`, distro
   packages). It batches: `--parallel` slots decode together, and a request's `n` is honoured up to
   the slot count.
2. `python -m llama_cpp.server` from `llama-cpp-python[server]` (MIT), which the `llmstep-lsp[llamacpp]`
   extra installs into the sidecar's own Python. It answers one request at a time and ignores `n`
   (one choice per request), so the generator asks for one sample per request (README, "llama.cpp").

Measured side by side on SmolLM2-135M Q4_1 (README, "A GGUF file on your own machine"): on two
oversubscribed cores neither was reliably faster for 8 samples; llama-server is preferred where it is
found because it batches (one request per suggestion, concurrent suggestions decoded together).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmstep_lsp.generation.base import ModelUnavailable

INSTALL_LLAMA_SERVER = (
    "put llama.cpp's `llama-server` on PATH (https://github.com/ggml-org/llama.cpp/releases, or "
    "`brew install llama.cpp`), or set 'llamaServer' to its path, or run "
    "`pip install -e '.[llamacpp]'` in your llmstep-lsp checkout (builds llama-cpp-python, about 10 minutes)"
)
PYTHON_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
"""What `python -m llama_cpp.server` needs: llama-cpp-python and its `[server]` extra."""

Route = Literal["llama-server", "llama-cpp-python"]


@dataclass(frozen=True)
class Launcher:
    """How to start one llama.cpp server: `route`, and the program (with leading arguments)."""

    route: Route
    program: tuple[str, ...]

    @property
    def health_path(self) -> str:
        """The URL path that answers 200 once the model is loaded: llama-server's `/health` (503
        while loading); llama-cpp-python loads before it listens, so any answer of `/v1/models`."""
        return "/health" if self.route == "llama-server" else "/v1/models"

    @property
    def batches(self) -> bool:
        """Whether the server samples a request's `n` (and concurrent requests) together."""
        return self.route == "llama-server"

    def command(self, model: Path, port: int, slots: int, slot_tokens: int, alias: str) -> list[str]:
        """The full argv: `model` on 127.0.0.1:`port`, `slots` parallel sequences of `slot_tokens`
        context each (llama-server's `-c` is shared among its slots, so it gets their sum)."""
        where = ["--host", "127.0.0.1", "--port", str(port)]
        if self.route == "llama-server":
            return [
                *self.program, "-m", str(model), *where, "--parallel", str(slots),
                "-c", str(slots * slot_tokens), "--alias", alias, "--no-webui",
            ]  # fmt: skip
        return [
            *self.program, "--model", str(model), *where, "--n_ctx", str(slot_tokens), "--model_alias", alias,
        ]  # fmt: skip

    def describe(self) -> str:
        """For logs and `doctor`: the program, as a person would type it."""
        return " ".join(self.program)


def find_launcher(setting: str | None) -> Launcher:
    """The server to start: the `llamaServer` setting, else `llama-server` on PATH, else
    llama-cpp-python's server in this Python. Raises `ModelUnavailable` naming the fix when there is
    none (or when the setting names no executable)."""
    if setting:
        found = _executable(setting)
        if found is None:
            raise ModelUnavailable(
                f"'llamaServer' is {setting!r}: no such executable. Fix: set it to the path of llama.cpp's "
                "`llama-server` binary, or remove it to use the one on PATH."
            )
        return Launcher("llama-server", (found,))
    if found := shutil.which("llama-server"):
        return Launcher("llama-server", (found,))
    if python_server_installed():
        # -P: nothing from the working directory (the model's folder) shadows the server's modules.
        return Launcher("llama-cpp-python", (sys.executable, "-P", "-m", "llama_cpp.server"))
    raise ModelUnavailable(f"no llama.cpp server to run the GGUF file. Fix: {INSTALL_LLAMA_SERVER}.")


def python_server_installed() -> bool:
    """Whether `python -m llama_cpp.server` can run in this Python (found, not imported)."""
    return all(importlib.util.find_spec(name) is not None for name in PYTHON_SERVER_MODULES)


def _executable(setting: str) -> str | None:
    path = Path(setting).expanduser()
    if path.parent != Path("."):
        return str(path) if path.is_file() and shutil.which(str(path)) else None
    return shutil.which(setting)
