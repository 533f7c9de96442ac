"""End to end through the real server with the REPL verifier (`verifier: "repl"`) and the fake REPL."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import EXAMPLES_SCRIPT, REPO, fake_lean_command
from tests.lsp_helpers import (
    code_actions_at,
    open_document,
    open_examples,
    proof_line,
    start_session,
)
from tests.support.cli import run_cli
from tests.support.repl_inputs import AnnouncedInputs

pytestmark = pytest.mark.e2e

FAKE_REPL = REPO / "tests" / "fake_repl" / "repl.py"
# Candidates for every step the examples script knows, plus failing and unparsable ones.
CANDIDATES = [
    "rfl",
    "simp",
    "omega",
    "decide",
    "exact h (Nat.le_succ _)",
    "apply h",
    "exact h",
    "intro h n",
    "intro h",
    "apply hst",
    "exact hrs hxr",
    "apply hrs",
    "push_neg",
    "use 1",
    "induction n",
    "exact h (Nat.le_succ",
    "frobnicate",
]
EXAMPLES_HEADER = "\n".join(
    [
        "import Mathlib.Data.Real.Basic",
        "import Mathlib.Order.Monotone.Basic",
        "import Mathlib.Topology.Instances.Real",
    ]
)
POINTS = [
    ("two_eq_two", 1),
    ("add_zero_nat", 1),
    ("monotone_step'", 2),
    ("subset_chain", 3),
    ("exercise_1_18b", 2),
]


@pytest.fixture
def repl_state(tmp_path: Path) -> Path:
    state = tmp_path / "fake-repl-state"
    state.mkdir()
    return state


def repl_command(state: Path, *knobs: str) -> list[str]:
    return [
        sys.executable,
        str(FAKE_REPL),
        "--script",
        str(EXAMPLES_SCRIPT),
        "--state-dir",
        str(state),
        *knobs,
    ]


def repl_inputs(state: Path) -> list[tuple[int, dict[str, Any]]]:
    """(pid, parsed input) for everything the fake REPL processes received, in order."""
    path = state / "received.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [(row["pid"], json.loads(row["input"])) for row in rows]


def starts(state: Path) -> list[int]:
    path = state / "starts.log"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def titles_at_points(client: LanguageClient, uri: str, text: str) -> list[list[str]]:
    return [
        [a.title for a in await code_actions_at(client, uri, proof_line(text, name, offset), 0)]
        for name, offset in POINTS
    ]


async def test_repl_verifier_shows_the_same_suggestions_as_the_shadow_verifier(
    client: LanguageClient, lean_project: Path, fake_state: Path, repl_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="", automationTactics=CANDIDATES)
    text, uri = open_examples(client, lean_project)
    shadow = await titles_at_points(client, uri, text)
    assert repl_inputs(repl_state) == []

    settings = {"verifier": "repl", "replCommand": repl_command(repl_state)}
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"llmstep": settings})
    )
    lean_messages_before = len((fake_state / "received.jsonl").read_text().splitlines())
    repl = await titles_at_points(client, uri, text)

    assert repl == shadow
    assert all(repl), repl  # every point has verified suggestions
    assert "Try this: exact h (Nat.le_succ _) (closes goal)" in repl[2]
    assert "Try this: apply h (1 goal left)" in repl[2]
    assert not any("exact h " in t and "Nat.le_succ _" not in t for t in repl[2])
    # The candidates went to the REPL in tactic mode, not to shadow documents.
    tactics = {i["tactic"] for _, i in repl_inputs(repl_state) if "tactic" in i}
    assert {"apply h", "exact h", "rfl", "exact hrs hxr", "use 1"} <= tactics
    later = (fake_state / "received.jsonl").read_text().splitlines()[lean_messages_before:]
    shadow_texts = [line for line in later if ".llmstep/" in line and "didChange" in line]
    assert not any("apply h\\n" in line for line in shadow_texts)
    # One header load per process, then the file's context once, then the declaration with `sorry`.
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for pid, data in repl_inputs(repl_state):
        by_pid.setdefault(pid, []).append(data)
    for inputs in by_pid.values():
        assert inputs[0] == {"cmd": EXAMPLES_HEADER}
        assert sum(1 for i in inputs if "cmd" in i and "env" not in i) == 1
    assert len(by_pid) <= 2  # replPoolSize


async def test_a_hanging_candidate_times_out_alone_and_its_process_is_replaced(
    client: LanguageClient, lean_project: Path, fake_state: Path, repl_state: Path
) -> None:
    await start_session(
        client,
        lean_project,
        fake_state,
        model="",
        automationTactics=["aesop_hang", "rfl", "simp"],
        verifyTimeoutS=2,
        verifier="repl",
        replCommand=repl_command(repl_state),
    )
    text, uri = open_examples(client, lean_project)
    titles = [a.title for a in await code_actions_at(client, uri, proof_line(text, "two_eq_two", 1), 2)]
    assert titles == ["Try this: rfl (closes goal)", "Try this: simp (closes goal)"]
    hung = [pid for pid, i in repl_inputs(repl_state) if i.get("tactic") == "aesop_hang"]
    assert len(hung) == 1 and not running(hung[0]), "the hung REPL process was stopped"
    # The pool goes on with a fresh process where the hung one was.
    other = await code_actions_at(client, uri, proof_line(text, "add_zero_nat", 1), 0)
    assert other[0].title == "Try this: rfl (closes goal)"
    assert len(starts(repl_state)) >= 2


async def test_a_repl_process_dying_mid_check_is_recovered(
    client: LanguageClient, lean_project: Path, fake_state: Path, repl_state: Path
) -> None:
    await start_session(
        client,
        lean_project,
        fake_state,
        model="",
        automationTactics=["crash_lean", "rfl", "simp"],
        verifier="repl",
        replCommand=repl_command(repl_state),
        replPoolSize=1,
    )
    text, uri = open_examples(client, lean_project)
    titles = [a.title for a in await code_actions_at(client, uri, proof_line(text, "two_eq_two", 1), 2)]
    assert titles == ["Try this: rfl (closes goal)", "Try this: simp (closes goal)"]
    crashed = [pid for pid, i in repl_inputs(repl_state) if i.get("tactic") == "crash_lean"]
    assert len(crashed) == 1 and not running(crashed[0])
    other = await code_actions_at(client, uri, proof_line(text, "add_zero_nat", 1), 0)
    assert [a.title for a in other][:2] == ["Try this: rfl (closes goal)", "Try this: simp (closes goal)"]
    # `crash_lean` killed a process at each point; each time a fresh one took its place.
    crashed = [pid for pid, i in repl_inputs(repl_state) if i.get("tactic") == "crash_lean"]
    assert len(crashed) == 2 and not any(running(pid) for pid in crashed)
    assert len(starts(repl_state)) >= 2  # the second point was served by a fresh process


async def test_files_with_different_imports_get_different_repl_processes(
    client: LanguageClient, lean_project: Path, fake_state: Path, repl_state: Path
) -> None:
    other_path = lean_project / "Other.lean"
    other_path.write_text("import Mathlib.Data.Nat.Basic\n\ntheorem two_eq_two : 2 = 2 := by\n  sorry\n")
    await start_session(
        client,
        lean_project,
        fake_state,
        model="",
        automationTactics=["rfl", "simp"],
        verifier="repl",
        replCommand=repl_command(repl_state),
        replPoolSize=1,
    )
    examples = lean_project / "Examples.lean"
    uri = open_document(client, examples)
    other_uri = open_document(client, other_path)
    for u, t in ((uri, examples.read_text()), (other_uri, other_path.read_text())):
        titles = [a.title for a in await code_actions_at(client, u, proof_line(t, "two_eq_two", 1), 2)]
        assert titles == ["Try this: rfl (closes goal)", "Try this: simp (closes goal)"]
    headers: dict[int, str] = {}
    tactics: dict[int, int] = {}
    for pid, data in repl_inputs(repl_state):
        headers.setdefault(pid, data.get("cmd", ""))
        tactics[pid] = tactics.get(pid, 0) + ("tactic" in data)
        if "env" in data and "open Filter Topology" in data.get("cmd", ""):
            assert headers[pid].startswith("import Mathlib.Data.Real.Basic")
    assert sorted(headers.values()) == [
        "import Mathlib.Data.Nat.Basic",
        EXAMPLES_HEADER,
    ]
    assert all(count == 2 for count in tactics.values()), tactics  # rfl and simp, once per file


async def test_an_edit_during_repl_checks_keeps_the_repl_process(
    client: LanguageClient, lean_project: Path, fake_state: Path, repl_state: Path
) -> None:
    """Cancelling a check must not cost a header reload (seconds with Mathlib): the owed answer is
    read and dropped instead of killing the process."""
    async with AnnouncedInputs(repl_state) as inputs:
        await start_session(
            client,
            lean_project,
            fake_state,
            model="",
            automationTactics=["rfl", "simp", "omega"],
            verifier="repl",
            replCommand=repl_command(repl_state, "--latency-ms", "300", "--announce", str(inputs.path)),
            replPoolSize=1,
        )
        text, uri = open_examples(client, lean_project)
        asking = asyncio.create_task(code_actions_at(client, uri, proof_line(text, "two_eq_two", 1), 2))
        await inputs.received(2)  # header loaded; the file's context is being elaborated (300 ms)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text + "\n")],
        )
    )
    assert await asking == []  # cancelled: nothing computed for version 1 is shown
    titles = [a.title for a in await code_actions_at(client, uri, proof_line(text, "add_zero_nat", 1), 0)]
    assert titles[:2] == ["Try this: rfl (closes goal)", "Try this: simp (closes goal)"]
    assert len(starts(repl_state)) == 1


async def test_an_edit_while_the_repl_loads_its_header_does_not_restart_the_load(
    client: LanguageClient, lean_project: Path, fake_state: Path, repl_state: Path
) -> None:
    async with AnnouncedInputs(repl_state) as inputs:
        await start_session(
            client,
            lean_project,
            fake_state,
            model="",
            automationTactics=["rfl", "simp"],
            verifier="repl",
            replCommand=repl_command(repl_state, "--header-ms", "2000", "--announce", str(inputs.path)),
            replPoolSize=1,
        )
        text, uri = open_examples(client, lean_project)
        asking = asyncio.create_task(code_actions_at(client, uri, proof_line(text, "two_eq_two", 1), 2))
        await inputs.received(1)  # the header is loading (2 s)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text + "\n")],
        )
    )
    assert await asking == []
    titles = [a.title for a in await code_actions_at(client, uri, proof_line(text, "add_zero_nat", 1), 0)]
    assert titles[:2] == ["Try this: rfl (closes goal)", "Try this: simp (closes goal)"]
    assert len(starts(repl_state)) == 1  # the load begun for version 1 served version 2


def two_goals_script(directory: Path) -> Path:
    """`both : 2 = 2 ∧ 3 = 3`: `constructor` leaves two goals, each closed by `rfl`."""
    script = directory / "two_goals.json"
    goals = ["case left\n⊢ 2 = 2", "case right\n⊢ 3 = 3"]
    script.write_text(
        json.dumps(
            {
                "declarations": {"both": ["⊢ 2 = 2 ∧ 3 = 3"]},
                "tactics": {
                    "⊢ 2 = 2 ∧ 3 = 3": {"constructor": goals},
                    goals[0]: {"rfl": [], "norm_num": []},
                    goals[1]: {"rfl": []},
                    "*": {"simp": {"error": "simp made no progress"}},
                },
            }
        )
    )
    return script


async def test_with_several_goals_closing_the_main_one_is_valid_with_the_others_left(
    client: LanguageClient, lean_project: Path, fake_state: Path, repl_state: Path, tmp_path: Path
) -> None:
    """The REPL's proof state holds the main goal only; the goals the Lean server reports after it
    still count, so both verifiers say the same."""
    script = two_goals_script(tmp_path)
    path = lean_project / "Both.lean"
    text = "theorem both : 2 = 2 ∧ 3 = 3 := by\n  constructor\n  sorry\n"
    path.write_text(text)
    await start_session(
        client,
        lean_project,
        fake_state,
        script=script,
        model="",
        automationTactics=["rfl", "simp", "norm_num"],
    )
    uri = open_document(client, path)
    shadow = [a.title for a in await code_actions_at(client, uri, 2, 2)]
    assert shadow == ["Try this: rfl (1 goal left)", "Try this: norm_num (1 goal left)"]
    command = [sys.executable, str(FAKE_REPL), "--script", str(script), "--state-dir", str(repl_state)]
    settings = {"verifier": "repl", "replCommand": command}
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"llmstep": settings})
    )
    repl = [a.title for a in await code_actions_at(client, uri, 2, 2)]
    assert repl == shadow
    assert {i.get("tactic") for _, i in repl_inputs(repl_state)} >= {"rfl", "simp", "norm_num"}


def test_proof_search_with_the_repl_closes_every_goal_not_just_the_first(
    lean_project: Path, fake_state: Path, repl_state: Path, tmp_path: Path
) -> None:
    """The search checks steps at points where the cursor never was (after `constructor`): the REPL
    verifier must be given that point's goals, or closing the first goal looks like a whole proof
    (it accepted `constructor; rfl` here)."""
    script = two_goals_script(tmp_path)
    path = lean_project / "Both.lean"
    path.write_text("theorem both : 2 = 2 ∧ 3 = 3 := by\n  sorry\n")
    repl = [sys.executable, str(FAKE_REPL), "--script", str(script), "--state-dir", str(repl_state)]
    settings = {"model": "", "automationTactics": ["constructor", "rfl"], "verifier": "repl"}
    result = run_cli(
        "prove",
        f"{path}:2:3",
        "--json",
        "--settings",
        json.dumps({**settings, "replCommand": repl}),
        "--lean-command",
        shlex.join(fake_lean_command(fake_state, script=script)),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["proofs"] == ["  constructor\n  rfl\n  rfl"]
    assert any(i.get("tactic") == "rfl" for _, i in repl_inputs(repl_state)), "the REPL checked the steps"
