"""The Lean bridge against the fake Lean server: lifecycle, versions, retries, restarts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from llmstep_lsp.lean.client import MAX_ATTEMPTS, LeanClient
from llmstep_lsp.lean.errors import LeanNotFound, LeanResponseError, LeanServerDied, LeanTimeout
from llmstep_lsp.lean.project import LeanProject, find_project
from llmstep_lsp.lean.transport import LeanTransport
from tests.conftest import fake_lean_command

PROOF = "theorem two_eq_two : 2 = 2 := by\n  sorry\n"


def make_client(project: Path, state: Path, *knobs: str) -> LeanClient:
    return LeanClient(LeanProject(project, True), fake_lean_command(state, *knobs), start_timeout_s=20)


def received(state: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (state / "received.jsonl").read_text().splitlines()]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


async def test_goal_and_diagnostics_of_a_synced_document(lean_project: Path, fake_state: Path) -> None:
    lean = make_client(lean_project, fake_state)
    uri = (lean_project / "Probe.lean").as_uri()
    try:
        version = await lean.sync(uri, PROOF)
        state = await lean.plain_goal(uri, version, 1, 2, timeout=10)
        assert state is not None and state.goals == ("⊢ 2 = 2",)
        diagnostics = await lean.diagnostics(uri, version, timeout=10)
        assert [d.severity for d in diagnostics] == [2]  # declaration uses `sorry`
        assert await lean.plain_goal(uri, version, 0, 0, timeout=10) is None
    finally:
        await lean.shutdown()
    opened = [m for m in received(fake_state) if m.get("method") == "textDocument/didOpen"]
    assert opened[0]["params"]["dependencyBuildMode"] == "never"


async def test_versions_stay_monotonic_across_close_and_reopen(lean_project: Path, fake_state: Path) -> None:
    lean = make_client(lean_project, fake_state)
    uri = (lean_project / "Probe.lean").as_uri()
    try:
        first = await lean.sync(uri, PROOF)
        second = await lean.sync(uri, PROOF.replace("sorry", "rfl"))
        await lean.close(uri)
        third = await lean.sync(uri, PROOF)
        assert first < second < third
        assert await lean.plain_goal(uri, third, 1, 2, timeout=10) is not None
    finally:
        await lean.shutdown()
    assert not (fake_state / "violations.log").exists()


async def test_a_query_about_replaced_text_is_refused_not_answered(
    lean_project: Path, fake_state: Path
) -> None:
    lean = make_client(lean_project, fake_state)
    uri = (lean_project / "Probe.lean").as_uri()
    try:
        old = await lean.sync(uri, PROOF)
        await lean.sync(uri, PROOF.replace("sorry", "rfl"))
        with pytest.raises(Exception, match="changed since version"):
            await lean.plain_goal(uri, old, 1, 2, timeout=10)
    finally:
        await lean.shutdown()


def requests_of(state: Path, method: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in received(state) if m.get("method") == method and "id" in m]


async def test_content_modified_is_asked_again_not_failed(lean_project: Path, fake_state: Path) -> None:
    """ContentModified means "ask again", never "no goal": Lean is asked the same question again."""
    lean = make_client(lean_project, fake_state, "--content-modified-requests", "1")
    uri = (lean_project / "Probe.lean").as_uri()
    try:
        version = await lean.sync(uri, PROOF)
        state = await lean.plain_goal(uri, version, 1, 2, timeout=10)
        assert state is not None and state.goals == ("⊢ 2 = 2",)
        diagnostics = await lean.diagnostics(uri, version, timeout=10)
        assert [d.severity for d in diagnostics] == [2]  # declaration uses `sorry`
    finally:
        await lean.shutdown()
    asked = requests_of(fake_state, "$/lean/plainGoal")
    assert len(asked) == 2 and asked[0]["params"] == asked[1]["params"]  # refused, then answered
    assert len(requests_of(fake_state, "textDocument/waitForDiagnostics")) == 1  # answered at once
    assert lean.restarts == 0  # a retry, not a restart


async def test_content_modified_every_time_is_an_error_after_the_last_attempt(
    lean_project: Path, fake_state: Path
) -> None:
    lean = make_client(lean_project, fake_state, "--content-modified-requests", str(MAX_ATTEMPTS))
    uri = (lean_project / "Probe.lean").as_uri()
    try:
        version = await lean.sync(uri, PROOF)
        with pytest.raises(LeanResponseError, match="File changed") as refused:
            await lean.plain_goal(uri, version, 1, 2, timeout=10)
        assert refused.value.is_retryable  # the caller's "no verdict", never a rejected candidate
    finally:
        await lean.shutdown()
    assert len(requests_of(fake_state, "$/lean/plainGoal")) == MAX_ATTEMPTS


async def test_dead_server_is_restarted_and_documents_reopened(lean_project: Path, fake_state: Path) -> None:
    lean = make_client(lean_project, fake_state)
    uri = (lean_project / "Probe.lean").as_uri()
    try:
        version = await lean.sync(uri, PROOF)
        assert lean.pid is not None
        # `pid` leads the server's process group (its guardian, processes/children.py): kill all
        # of it at once, as a crash does; killing only the guardian let the server answer once
        # more before dying.
        os.killpg(lean.pid, signal.SIGKILL)
        state = await lean.plain_goal(uri, version, 1, 2, timeout=10)
        assert state is not None and state.goals == ("⊢ 2 = 2",)
        assert lean.restarts == 1
    finally:
        await lean.shutdown()
    assert len((fake_state / "starts.log").read_text().split()) == 2
    assert not (fake_state / "violations.log").exists()


async def test_pending_requests_fail_when_the_child_dies(lean_project: Path, fake_state: Path) -> None:
    transport = LeanTransport(
        fake_lean_command(fake_state, "--start-delay-ms", "5000"),
        str(lean_project),
        lambda method, params: None,
    )
    await transport.start()
    pending = asyncio.create_task(transport.request("initialize", {"capabilities": {}}, timeout=30))
    await asyncio.sleep(0)  # a yield, not a wait: the request is sent, then its task awaits the answer
    transport.kill()
    with pytest.raises(LeanServerDied):
        await pending
    await transport.close()


async def test_timeout_cancels_on_the_server(lean_project: Path, fake_state: Path) -> None:
    lean = make_client(lean_project, fake_state)
    uri = (lean_project / "Hang.lean").as_uri()
    try:
        version = await lean.sync(uri, "theorem two_eq_two : 2 = 2 := by\n  aesop_hang\n  sorry\n")
        with pytest.raises(LeanTimeout):
            await lean.diagnostics(uri, version, timeout=0.3)  # this elaboration never ends
    finally:
        # The cancel was written before LeanTimeout was raised, so before `shutdown`: Lean has
        # read it once it answers `shutdown`.
        await lean.shutdown()
    cancels = [m for m in received(fake_state) if m.get("method") == "$/cancelRequest"]
    assert len(cancels) == 1


async def test_hung_server_is_restarted_after_repeated_goal_timeouts(
    lean_project: Path, fake_state: Path
) -> None:
    lean = make_client(lean_project, fake_state)
    uri = (lean_project / "Hang.lean").as_uri()
    hanging = "theorem two_eq_two : 2 = 2 := by\n  aesop_hang\n  sorry\n"
    try:
        version = await lean.sync(uri, hanging)
        for _ in range(2):
            with pytest.raises(LeanTimeout):
                await lean.plain_goal(uri, version, 2, 2, timeout=0.3)
        assert lean.restarts == 1
    finally:
        await lean.shutdown()
    assert len((fake_state / "starts.log").read_text().split()) == 2


async def test_shutdown_leaves_no_process_behind(lean_project: Path, fake_state: Path) -> None:
    lean = make_client(lean_project, fake_state)
    await lean.sync((lean_project / "Probe.lean").as_uri(), PROOF)
    pid = lean.pid
    assert pid is not None and pid_alive(pid)
    await lean.shutdown()
    assert not pid_alive(pid)


async def test_missing_lean_says_how_to_install_it(lean_project: Path) -> None:
    lean = LeanClient(LeanProject(lean_project, True), ["lake-does-not-exist", "serve"], start_timeout_s=5)
    with pytest.raises(LeanNotFound, match="elan"):
        await lean.ensure_started()


def test_project_root_is_found_from_a_nested_file(tmp_path: Path) -> None:
    (tmp_path / "lakefile.toml").write_text("name = 'x'\n")
    nested = tmp_path / "A" / "B.lean"
    nested.parent.mkdir()
    nested.write_text("")
    project = find_project(nested)
    assert project.root == tmp_path and project.uses_lake
    assert project.server_command()[:3] == ["lake", "serve", "--"]
    loose = find_project(Path("/tmp/nowhere/C.lean"))
    assert loose.server_command()[:2] == ["lean", "--server"]
