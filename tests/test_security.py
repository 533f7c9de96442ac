"""Security: model output never makes Lean run code, TCP stays on this machine unless told otherwise,
the API key stays out of logs and messages, and verification never writes the user's tree."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from llmstep_lsp.generation.filters import rejection_reason
from tests.conftest import project_files
from tests.lsp_helpers import (
    code_actions_at,
    open_document,
    open_examples,
    proof_line,
    start_session,
)
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.lsp_client import SERVER_CONFIG

KEY_ENV = "LLMSTEP_TEST_API_KEY"
SECRET = "sk-test-7f3a9c1e5b2d-do-not-print"
GOOD = "exact h (Nat.le_succ _)"

# What a hostile or confused model might propose, and the text that must never reach Lean.
HOSTILE = {
    '#eval IO.println "pwned-eval"': "pwned-eval",
    "#exit": "#exit",
    "import Mathlib.Tactic.Pwned": "Mathlib.Tactic.Pwned",
    "set_option maxHeartbeats 0 in simp": "maxHeartbeats",
    "run_tac Lean.Elab.Tactic.pwnedTac": "pwnedTac",
    'exact (IO.Process.run {cmd := "pwned-proc"})': "pwned-proc",
    "unsafe def pwnedDef : Nat := 0": "pwnedDef",
    "open PwnedNamespace in simp": "PwnedNamespace",
    "simp\n#eval pwnedMultiline": "pwnedMultiline",
    "exact pwnedAfterError #eval 1": "pwnedAfterError",
    "exact (unsafeBaseIO pwnedBase)": "pwnedBase",
    "run_cmd pwnedCmd": "pwnedCmd",
}


@pytest.mark.parametrize(
    "tactic",
    [
        *HOSTILE,
        "#exit",
        "simp;#exit",
        "exact foo #eval 1",
        "open Classical in exact h",
        "exact (unsafeCast h)",
        "run_elab pure ()",
        "simp\r\nrfl",
        "exact h def x := 1",
    ],
)
def test_text_that_is_not_one_tactic_is_rejected(tactic: str) -> None:
    assert rejection_reason(tactic) is not None


@pytest.mark.parametrize(
    "tactic",
    [GOOD, "exact #[1, 2].size", "simp [Nat.add_def] at h ⊢", "nlinarith [sq_nonneg (a - b)]", "decide"],
)
def test_ordinary_tactics_pass(tactic: str) -> None:
    assert rejection_reason(tactic) is None


def lean_texts(state: Path) -> str:
    """Everything our Lean server was sent, as one string (every message, every document)."""
    path = state / "received.jsonl"
    return path.read_text() if path.exists() else ""


async def test_hostile_model_output_never_reaches_lean(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    before = project_files(lean_project)
    with FakeOpenAI() as fake:
        fake.script = Script(texts=[*HOSTILE, GOOD])
        await start_session(
            client,
            lean_project,
            fake_state,
            # No stop sequence: multi-line samples reach the filters whole.
            presets={"raw": {"basedOn": "llemma", "template": "[GOAL]{goal}[PROOFSTEP]{prefix}", "stop": []}},
            preset="raw",
            endpoint=fake.endpoint,
            numSamples=len(HOSTILE) + 1,
            requestRetries=0,
            automationTactics=[],
        )
        text, uri = open_examples(client, lean_project)
        actions = await code_actions_at(client, uri, proof_line(text, "monotone_step'", 2), 2)
        assert fake.requests, "the model was asked"
    assert [a.title for a in actions] == [f"Try this: {GOOD} (closes goal)"]
    sent = lean_texts(fake_state)
    assert f"  {GOOD}" in sent, "the good tactic was verified by Lean"
    for marker in HOSTILE.values():
        assert marker not in sent, f"{marker!r} reached Lean"
    # Verification used shadow documents under .llmstep/, which exist only inside Lean.
    assert "/.llmstep/Shadow1.lean" in sent
    assert not (lean_project / ".llmstep").exists()
    assert project_files(lean_project) == before


class _KeyEchoingEndpoint:
    """An endpoint that rejects every request quoting the key back, like OpenAI's 401 does."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                auth = self.headers.get("Authorization", "")
                body = json.dumps({"error": {"message": f"Incorrect API key provided: {auth}"}}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def key_echoing_endpoint() -> Iterator[_KeyEchoingEndpoint]:
    endpoint = _KeyEchoingEndpoint()
    yield endpoint
    endpoint.close()


WITH_KEY = ClientServerConfig(
    server_command=SERVER_CONFIG.server_command,
    server_env={**(SERVER_CONFIG.server_env or {}), KEY_ENV: SECRET},
)


@pytest_lsp.fixture(config=WITH_KEY)
async def keyed_client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_the_api_key_is_never_logged_or_shown(
    keyed_client: LanguageClient,
    lean_project: Path,
    fake_state: Path,
    tmp_path: Path,
    key_echoing_endpoint: _KeyEchoingEndpoint,
) -> None:
    log_file = tmp_path / "llmstep.log"
    await start_session(
        keyed_client,
        lean_project,
        fake_state,
        preset="llemma",
        endpoint=key_echoing_endpoint.endpoint,
        apiKeyEnv=KEY_ENV,
        requestRetries=0,
        logFile=str(log_file),
        logLevel="DEBUG",
    )
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = open_document(keyed_client, path)
    actions = await code_actions_at(keyed_client, uri, proof_line(text, "two_eq_two", 1), 2)
    assert [a.title for a in actions][:1] == ["Try this: rfl (closes goal)"]  # model-free still works
    shown = [m.message for m in keyed_client.messages] + [m.message for m in keyed_client.log_messages]
    assert any("HTTP 401" in m and "Incorrect API key provided" in m for m in shown), shown
    logged = log_file.read_text()
    assert "HTTP 401" in logged
    assert SECRET not in logged
    assert not any(SECRET in m for m in shown)
    assert SECRET not in lean_texts(fake_state)


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a socket listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            address, _, hex_port = fields[1].rpartition(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.append(address)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_tcp(*host: str) -> tuple[subprocess.Popen[bytes], int, list[str]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llmstep_lsp", "serve", "--tcp", "--port", str(port), *host],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (addresses := _listening(port)) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.1)
    return process, port, addresses


def _initialize_over_tcp(port: int) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        header, _, rest = data.partition(b"\r\n\r\n")
        length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += conn.recv(65536)
    answer: dict[str, Any] = json.loads(rest[:length])
    return answer


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    return stderr.decode(errors="replace")


def test_tcp_listens_on_loopback_by_default() -> None:
    process, port, addresses = _serve_tcp()
    try:
        assert addresses == ["0100007F"], addresses  # 127.0.0.1, nothing else
        assert _initialize_over_tcp(port)["result"]["serverInfo"]["name"] == "llmstep-lsp"
    finally:
        stderr = _stop(process)
    assert "anyone who can reach" not in stderr


def test_tcp_on_another_address_only_when_asked_and_with_a_warning() -> None:
    process, _, addresses = _serve_tcp("--host", "0.0.0.0")
    try:
        assert addresses == ["00000000"], addresses
    finally:
        stderr = _stop(process)
    assert "listening on 0.0.0.0: anyone who can reach this address can drive Lean here" in stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("gpu-box.example.com", False),
    ],
)
def test_which_hosts_count_as_this_machine_only(host: str, loopback: bool) -> None:
    from llmstep_lsp.cli.main import _is_loopback

    assert _is_loopback(host) is loopback
