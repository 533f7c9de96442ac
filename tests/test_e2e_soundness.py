"""Sound verdicts end to end (sidecar process, fake Lean over stdio): "(closes goal)" only for a
proof Lean confirms sorry-free, Lean's search tactics offered by what they propose, and a reason
for every candidate in `$/llmstep/suggest` and `suggest --json`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import REPO, fake_lean_command
from tests.lsp_helpers import code_actions_at, open_document, start_session
from tests.support.cli import run_cli
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Script as FakeScript

pytestmark = pytest.mark.e2e

SCRIPT = REPO / "tests" / "fixtures" / "soundness_script.json"
FALSE = "example : 2 + 2 = 5 := by\n  sorry\n"
FOUR = "theorem four : 2 + 2 = 4 := by\n  sorry\n"
PAIR = "theorem pair (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n  constructor\n  case left =>\n    sorry\n"
PAIR += "  case right => sorry\n"


async def report_at(client: LanguageClient, uri: str, line: int) -> dict[str, Any]:
    """`$/llmstep/suggest` at a line, as plain JSON."""
    raw = await client.protocol.send_request_async(
        "$/llmstep/suggest", {"textDocument": {"uri": uri}, "position": {"line": line, "character": 0}}
    )
    result = plain(raw)
    assert isinstance(result, dict)
    return result


def plain(value: Any) -> Any:
    """pytest-lsp's client turns untyped results into named tuples: back to JSON values."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def reasons(report: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    return {c["tactic"]: (c["reason"], c["source"], c["kept"]) for c in report["candidates"]}


async def test_nothing_closes_a_false_goal_and_every_candidate_says_why(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    tactics = ["apply?", "exact?", "exact sorryAx _", "stop", "my_admit", "decide", "rfl axiom x : False"]
    await start_session(client, lean_project, fake_state, script=SCRIPT, model="", automationTactics=tactics)
    uri = open_document(client, lean_project / "False.lean", FALSE)
    actions = await code_actions_at(client, uri, 1, 2)
    assert not [a.title for a in actions if a.title.startswith("Try this")]
    report = await report_at(client, uri, 1)
    assert report["suggestions"] == []
    assert reasons(report) == {
        "exact sorryAx _": ("filter", "automation", False),
        "stop": ("filter", "automation", False),
        "rfl axiom x : False": ("filter", "automation", False),
        "apply?": ("search tactic", "automation", False),  # closed the goal, with `admitGoal`
        "refine absurd ?_ ?_": ("lean error", "apply?", False),  # what apply? proposed, checked
        "exact?": ("search tactic", "automation", False),
        "my_admit": ("uses sorry", "automation", False),  # a macro the filter cannot see through
        "decide": ("lean error", "automation", False),
    }
    details = {c["tactic"]: c["detail"] for c in report["candidates"]}
    assert details["my_admit"] == "depends on axioms: [sorryAx]"
    assert details["exact sorryAx _"] == "uses sorryAx"
    assert details["rfl axiom x : False"] == "command keyword 'axiom'"
    assert details["apply?"] == "proposed ['refine absurd ?_ ?_']"
    assert "could not close the goal" in details["exact?"]
    sent = (fake_state / "received.jsonl").read_text()
    assert "axiom x" not in sent and "sorryAx _" not in sent and "  stop" not in sent


async def test_search_tactics_are_offered_by_what_they_propose_checked_again(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    tactics = ["exact?", "simp?", "hint"]
    await start_session(client, lean_project, fake_state, script=SCRIPT, model="", automationTactics=tactics)
    uri = open_document(client, lean_project / "Four.lean", FOUR)
    actions = await code_actions_at(client, uri, 1, 2)
    assert [a.title for a in actions] == [
        "Try this: exact rfl (closes goal)",  # from the ≥ v4.25 layout: "Try this:\n  [apply] exact rfl"
        "Try this: simp only [Nat.reduceAdd] (closes goal)",  # from "Try this: simp only […]"
        "Try this: norm_num (closes goal)",  # from "Try these:\n• norm_num\n• …"
    ]
    report = await report_at(client, uri, 1)
    assert [(s["tactic"], s["source"]) for s in report["suggestions"]] == [
        ("exact rfl", "exact?"),
        ("simp only [Nat.reduceAdd]", "simp?"),
        ("norm_num", "hint"),
    ]
    # hint's other proposal closes the goal too, but through a lemma proved with `sorry`.
    assert reasons(report)["exact sorried_lemma"] == ("uses sorry", "hint", False)
    assert all(reasons(report)[t][0] == "search tactic" for t in tactics)


async def test_the_users_other_sorries_do_not_spoil_a_real_proof(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """`case right => sorry` stays in the declaration: the check tells it apart from the candidate's."""
    tactics = ["my_admit", "exact hp"]
    await start_session(client, lean_project, fake_state, script=SCRIPT, model="", automationTactics=tactics)
    uri = open_document(client, lean_project / "Pair.lean", PAIR)
    actions = await code_actions_at(client, uri, 3, 4)
    assert [a.title for a in actions] == ["Try this: exact hp (closes goal)"]
    assert reasons(await report_at(client, uri, 3))["my_admit"] == ("uses sorry", "automation", False)


async def test_in_a_module_where_lean_refuses_print_axioms_the_sorry_warning_decides(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    tactics = ["my_admit", "exact rfl"]
    await start_session(client, lean_project, fake_state, script=SCRIPT, model="", automationTactics=tactics)
    uri = open_document(client, lean_project / "Module.lean", "module\n\n" + FOUR)
    assert [a.title for a in await code_actions_at(client, uri, 3, 2)] == [
        "Try this: exact rfl (closes goal)"
    ]
    candidates = {
        c["tactic"]: (c["reason"], c["detail"]) for c in (await report_at(client, uri, 3))["candidates"]
    }
    assert candidates["my_admit"] == ("uses sorry", "declaration uses 'sorry'")


async def test_a_sorry_the_check_cannot_tell_apart_blocks_closing_until_it_is_gone(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(
        client, lean_project, fake_state, script=SCRIPT, model="", automationTactics=["exact hp"]
    )
    text = PAIR.replace("case right => sorry", "case right => exact (id sorry)")
    uri = open_document(client, lean_project / "Pair.lean", text)
    assert not await code_actions_at(client, uri, 3, 4)
    candidate = (await report_at(client, uri, 3))["candidates"][0]
    assert (candidate["reason"], candidate["detail"]) == (
        "uses sorry",
        "the declaration has a sorry elsewhere that the check cannot tell apart",
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=PAIR)],
        )
    )
    # Same goal, same file before the declaration: a cached "uses sorry" would hide it now.
    assert [a.title for a in await code_actions_at(client, uri, 3, 4)] == ["Try this: exact hp (closes goal)"]


async def test_a_models_commands_are_reported_as_filtered_and_never_reach_lean(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    hostile = ["rfl\u2028#eval 1", "exact rfl ＃exit", "@[simp] theorem x : 1 = 1 := rfl", "exact rfl"]
    with FakeOpenAI() as fake:
        fake.script = FakeScript(texts=hostile)
        await start_session(
            client,
            lean_project,
            fake_state,
            script=SCRIPT,
            presets={"raw": {"basedOn": "llemma", "template": "[GOAL]{goal}[PROOFSTEP]{prefix}", "stop": []}},
            preset="raw",
            endpoint=fake.endpoint,
            numSamples=len(hostile),
            requestRetries=0,
            automationTactics=[],
        )
        uri = open_document(client, lean_project / "Four.lean", FOUR)
        report = await report_at(client, uri, 1)
    assert [s["title"] for s in report["suggestions"]] == ["Try this: exact rfl (closes goal)"]
    assert [(c["tactic"], c["source"], c["reason"], c["detail"]) for c in report["candidates"]] == [
        ("rfl\u2028#eval 1", "model", "filter", "line separator '\\u2028'"),
        ("exact rfl ＃exit", "model", "filter", "command '#exit'"),
        ("@[simp] theorem x : 1 = 1 := rfl", "model", "filter", "attribute @[…]"),
        ("exact rfl", "model", "closes goal", ""),
    ]
    sent = (fake_state / "received.jsonl").read_text()
    assert "#eval" not in sent and "exit" not in sent and "theorem x" not in sent


def test_suggest_json_explains_and_prove_writes_no_proof_through_sorry(
    lean_project: Path, fake_state: Path
) -> None:
    lean = shlex.join(fake_lean_command(fake_state, script=SCRIPT))
    path = lean_project / "False.lean"
    path.write_text(FALSE + "\ntheorem three : 3 = 3 := by\n  sorry\n")
    settings = json.dumps({"automationTactics": ["my_admit", "decide"]})
    result = run_cli(
        "suggest", f"{path}:2:3", "--json", "--model", "", "--lean-command", lean, "--settings", settings
    )
    assert result.returncode == 1, result.stderr  # nothing to offer
    output = json.loads(result.stdout)
    assert [(c["tactic"], c["reason"]) for c in output["candidates"]] == [
        ("my_admit", "uses sorry"),
        ("decide", "lean error"),
    ]
    # The only path that ends the proof of `three` goes through a step that uses sorry.
    settings = json.dumps({"automationTactics": ["cheat_step", "trivial"]})
    result = run_cli(
        "prove", f"{path}:6:3", "--json", "--model", "", "--lean-command", lean, "--settings", settings
    )
    output = json.loads(result.stdout)
    assert output["proofs"] == [], output
    assert path.read_text() == FALSE + "\ntheorem three : 3 = 3 := by\n  sorry\n"


def test_whole_proof_mode_writes_no_proof_that_closes_through_sorry(
    lean_project: Path, fake_state: Path
) -> None:
    path = lean_project / "Four.lean"
    path.write_text(FOUR)
    declaration = FOUR.split("\n")[0] + "\n"
    with FakeOpenAI() as fake:
        fake.script = FakeScript(
            texts=[f"```lean4\n{declaration}  my_admit\n```", f"```lean4\n{declaration}  exact rfl\n```"],
            logprobs=[[-0.01], [-0.5]],  # the sorry proof is the model's favourite
        )
        settings = {
            "model": "scripted",
            "backend": "openai-chat",
            "promptFormat": "chat-proof",
            "endpoint": fake.endpoint,
            "wholeProofSamples": 2,
            "automationTactics": [],
        }
        lean = shlex.join(fake_lean_command(fake_state, script=SCRIPT))
        result = run_cli(
            "prove",
            f"{path}:2:3",
            "--whole",
            "--json",
            "--settings",
            json.dumps(settings),
            "--lean-command",
            lean,
        )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["proofs"] == ["  exact rfl"]
    assert path.read_text() == FOUR
