"""End to end through the real server process: fake Lean over stdio, a tiny model from disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from llmstep_lsp.lsp.methods import STATUS_NOTIFICATION
from tests.conftest import project_files
from tests.lsp_helpers import (
    bullets_script,
    code_actions_at,
    edit_of,
    inline_at,
    open_document,
    open_examples,
    proof_line,
    start_session,
    suggest_report,
)
from tests.support.lsp_text import apply_edit, line_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(client: LanguageClient) -> LanguageClient:
    """The shared client (`tests/support/lsp_client.py`), recording `llmstep/status` (state, message)."""
    statuses: list[tuple[str, str]] = []
    client.statuses = statuses  # type: ignore[attr-defined]

    @client.feature(STATUS_NOTIFICATION)
    def on_status(params) -> None:  # type: ignore[no-untyped-def]
        statuses.append((params.state, params.message))

    return client


def received(state: Path) -> list[dict]:  # type: ignore[type-arg]
    path = state / "received.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def verified_candidates(state: Path) -> set[str]:
    """Every line Lean was asked about in a shadow document (what the verifier tried)."""
    texts = set()
    for message in received(state):
        params = message.get("params") or {}
        if message.get("method") == "textDocument/didChange" and ".llmstep/" in params["textDocument"]["uri"]:
            for change in params["contentChanges"]:
                texts.update(line.strip() for line in change["text"].split("\n"))
        if message.get("method") == "textDocument/didOpen" and ".llmstep/" in params["textDocument"]["uri"]:
            texts.update(line.strip() for line in params["textDocument"]["text"].split("\n"))
    return texts


def assert_no_protocol_violation(state: Path) -> None:
    violations = state / "violations.log"
    assert not violations.exists() or not violations.read_text().strip(), violations.read_text()


async def test_only_verified_suggestions_closes_first(
    client: LanguageClient, lean_project: Path, fake_state: Path, tiny_model: Path
) -> None:
    before = project_files(lean_project)
    await start_session(client, lean_project, fake_state, model=tiny_model)
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "monotone_step'", 2)  # the `sorry` after `intro h n`
    actions = await code_actions_at(client, uri, line, 2)

    titles = [a.title for a in actions]
    assert titles, "expected verified suggestions"
    allowed = {
        "Try this: exact h (Nat.le_succ _) (closes goal)",
        "Try this: exact h (Nat.le_succ n) (closes goal)",
        "Try this: apply h (1 goal left)",
    }
    assert set(titles) <= allowed, titles
    assert titles[0].endswith("(closes goal)")
    closing = [t.endswith("(closes goal)") for t in titles]
    assert closing == sorted(closing, reverse=True), "closing suggestions come first"
    assert [a.is_preferred for a in actions] == [True] + [False] * (len(actions) - 1)
    assert all(a.kind == types.CodeActionKind.QuickFix for a in actions)
    # Loading the model was shown as work-done progress, begun and ended.
    kinds = [
        type(v).__name__ for v in client.progress_reports.get(next(iter(client.progress_reports), ""), [])
    ]
    assert kinds[:1] == ["WorkDoneProgressBegin"] and kinds[-1] == "WorkDoneProgressEnd", kinds
    # The model-free tactics were checked by Lean on this goal, and rejected.
    tried = verified_candidates(fake_state)
    assert {"simp", "rfl", "omega"} <= tried
    assert not any(t.startswith(("Try this: simp", "Try this: rfl", "Try this: omega")) for t in titles)
    edit, version = edit_of(actions[0])
    assert version == 1
    assert edit.range == types.Range(
        start=types.Position(line=line, character=2), end=types.Position(line=line, character=len("  sorry"))
    )  # the `sorry`, not the line
    assert line_of(apply_edit(text, edit), line).startswith("  exact h (Nat.le_succ ")
    assert project_files(lean_project) == before, "the sidecar must never write the user's tree"
    assert client.statuses[-1] == ("ready", "")  # type: ignore[attr-defined]
    assert_no_protocol_violation(fake_state)


async def test_typed_prefix_is_respected_and_inline_completion_completes_it(
    client: LanguageClient, lean_project: Path, fake_state: Path, tiny_model: Path
) -> None:
    await start_session(client, lean_project, fake_state, model=tiny_model)
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "monotone_step", 2)  # `  exact` (a parse error in real Lean)
    assert text.split("\n")[line] == "  exact"

    actions = await code_actions_at(client, uri, line, len("  exact"))
    assert actions
    assert all(a.title.startswith("Try this: exact ") for a in actions), [a.title for a in actions]
    assert "Try this: exact h (closes goal)" not in [a.title for a in actions]  # Lean rejects it
    edit, _ = edit_of(actions[0])
    after = line_of(apply_edit(text, edit), line)
    assert after in ("  exact h (Nat.le_succ _)", "  exact h (Nat.le_succ n)")

    # Asking again at the same version and line is served from the cache: Lean hears nothing.
    traffic = len(received(fake_state))
    completions = await inline_at(client, uri, line, len("  exact"))
    assert len(received(fake_state)) == traffic
    assert completions.items
    best = completions.items[0]
    # Ghost text starts where the typed tactic does and continues it (VS Code shows it only then).
    assert isinstance(best.insert_text, str) and best.insert_text.startswith("exact")
    assert best.range == types.Range(
        start=types.Position(line=line, character=2), end=types.Position(line=line, character=len("  exact"))
    )
    assert line_of(apply_edit(text, best), line) == after
    assert_no_protocol_violation(fake_state)


@pytest.mark.parametrize(
    ("encodings", "units"),
    [
        (None, lambda s: len(s.encode("utf-16-le")) // 2),
        (["utf-8"], lambda s: len(s.encode("utf-8"))),
    ],
    ids=["utf-16", "utf-8"],
)
async def test_edit_ranges_count_columns_in_the_clients_encoding(
    client: LanguageClient,
    lean_project: Path,
    fake_state: Path,
    tiny_model: Path,
    encodings,
    units,  # type: ignore[no-untyped-def]
) -> None:
    await start_session(client, lean_project, fake_state, model=tiny_model, position_encodings=encodings)
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "tendsto_self", 1)
    line_text = text.split("\n")[line]
    assert "𝓝" in line_text and units(line_text) != len(line_text)

    actions = await code_actions_at(client, uri, line, units(line_text))
    titles = [a.title for a in actions]
    assert titles == ["Try this: have h : Tendsto id (𝓝 x) (𝓝 x) := tendsto_id (1 goal left)"]
    edit, _ = edit_of(actions[0])
    assert edit.range.end == types.Position(line=line, character=units(line_text))
    assert edit.new_text == "have h : Tendsto id (𝓝 x) (𝓝 x) := tendsto_id"
    assert edit.range.start == types.Position(line=line, character=2)


async def test_without_a_model_the_model_free_tactics_are_verified_and_said_once(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="/nonexistent/llmstep-model")
    text, uri = open_examples(client, lean_project)
    empty_line = proof_line(text, "add_zero_nat", 1)
    assert text.split("\n")[empty_line].strip() == ""

    actions = await code_actions_at(client, uri, empty_line, 0)
    titles = [a.title for a in actions]
    # The table says: rfl, simp, omega, norm_num, ring close it; decide, linarith, positivity fail.
    assert titles == [f"Try this: {t} (closes goal)" for t in ("rfl", "simp", "omega", "norm_num", "ring")]
    edit, _ = edit_of(actions[0])
    assert (
        line_of(apply_edit(text, edit), empty_line) == "  rfl"
    )  # the empty line gets the block's indentation

    # The quick fixes did not wait for the model to fail; the result is final once it has.
    assert (await suggest_report(client, uri, empty_line)).final
    # A second request elsewhere must not repeat the message.
    other = proof_line(text, "two_eq_two", 1)
    await code_actions_at(client, uri, other, 2)
    assert (await suggest_report(client, uri, other)).final
    shown = [m.message for m in client.messages if "model" in m.message]
    assert len(shown) == 1, shown
    assert "/nonexistent/llmstep-model" in shown[0] and "Fix:" in shown[0]
    states = [state for state, _ in client.statuses]  # type: ignore[attr-defined]
    assert states[0] == "loading" and "working" in states
    assert client.statuses[-1] == ("error", shown[0])  # type: ignore[attr-defined]
    assert_no_protocol_violation(fake_state)


async def test_no_suggestion_where_lean_reports_no_tactic_goal(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="")
    text, uri = open_examples(client, lean_project)
    lines = text.split("\n")
    import_line = next(i for i, line in enumerate(lines) if line.startswith("import "))
    assert await code_actions_at(client, uri, import_line) == []
    statement = proof_line(text, "two_eq_two", 0)
    assert await code_actions_at(client, uri, statement) == []
    # A comment line between two proofs: text heuristics allow it, Lean says there is no goal.
    between = proof_line(text, "add_zero_nat", -1)
    assert lines[between].startswith("--")
    assert await code_actions_at(client, uri, between) == []


async def test_lean_crash_is_recovered(client: LanguageClient, lean_project: Path, fake_state: Path) -> None:
    import os
    import signal

    await start_session(client, lean_project, fake_state, model="")
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    assert [a.title for a in await code_actions_at(client, uri, line, 2)][:1] == [
        "Try this: rfl (closes goal)"
    ]

    first_pid = int((fake_state / "starts.log").read_text().split()[0])
    os.kill(first_pid, signal.SIGKILL)
    # Ask about another line (not cached): the server must notice, restart Lean, reopen, answer.
    other = proof_line(text, "add_zero_nat", 1)
    titles = [a.title for a in await code_actions_at(client, uri, other, 0)]
    assert titles[:1] == ["Try this: rfl (closes goal)"]
    assert len((fake_state / "starts.log").read_text().split()) == 2
    assert_no_protocol_violation(fake_state)


async def test_capabilities_lean_language_id_and_clean_shutdown(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    import os

    result = await start_session(client, lean_project, fake_state, model="")
    capabilities = result.capabilities
    assert capabilities.inline_completion_provider is not None
    assert capabilities.code_action_provider is not None
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="lean", version=7, text=text)
        )
    )  # Neovim ≥ 0.11 says "lean"
    line = proof_line(text, "two_eq_two", 1)
    actions = await code_actions_at(client, uri, line, 2)
    assert actions and edit_of(actions[0])[1] == 7
    pid = int((fake_state / "starts.log").read_text().split()[0])
    await client.shutdown_session()
    client.shut_down_by_test = True  # type: ignore[attr-defined]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_closing_suggestions_rank_above_earlier_valid_ones(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(
        client, lean_project, fake_state, model="", automationTactics=["induction n", "decide", "rfl"]
    )
    text, uri = open_examples(client, lean_project)
    actions = await code_actions_at(client, uri, proof_line(text, "add_zero_nat", 1), 0)
    assert [a.title for a in actions] == [
        "Try this: rfl (closes goal)",
        "Try this: induction n (2 goals left)",
    ]


async def test_http_backend_end_to_end_and_a_down_endpoint_degrades_to_model_free(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    from tests.support.fake_openai import FakeOpenAI, Script

    with FakeOpenAI() as fake:
        fake.script = Script(
            texts=[" h (Nat.le_succ _)", " h", " h (Nat.le_succ _)"], logprobs=[[-0.1], [-0.5], [-0.1]]
        )
        await start_session(
            client,
            lean_project,
            fake_state,
            preset="llemma",
            endpoint=fake.endpoint,
            numSamples=3,
            requestRetries=0,
            requestTimeoutS=2,
        )
        text, uri = open_examples(client, lean_project)
        line = proof_line(text, "monotone_step", 2)  # `  exact`
        titles = [a.title for a in await code_actions_at(client, uri, line, 7)]
        assert titles == ["Try this: exact h (Nat.le_succ _) (closes goal)"]  # `exact h` rejected by Lean
        prompt = fake.requests[0]["body"]["prompt"]
        assert "[CTX]\n" in prompt and "theorem monotone_step" in prompt and prompt.endswith("[TAC]\nexact")
    # The endpoint is gone now: model-free candidates still come, with one message saying why.
    actions = await code_actions_at(client, uri, proof_line(text, "two_eq_two", 1), 2)
    assert [a.title for a in actions][:1] == ["Try this: rfl (closes goal)"]
    await code_actions_at(client, uri, proof_line(text, "add_zero_nat", 1), 0)
    shown = [m.message for m in client.messages if "endpoint" in m.message]
    assert len(shown) == 1 and "Fix:" in shown[0]


async def test_structured_results_by_command_and_by_request(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="", automationTactics=["induction n", "rfl"])
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "add_zero_nat", 1)
    report = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="llmstep.suggest", arguments=[uri, line])
    )
    assert [(s["tactic"], s["status"], len(s["goals_after"])) for s in report["suggestions"]] == [
        ("rfl", "closes", 0),
        ("induction n", "valid", 2),
    ]
    assert report["goals"] == ["n : ℕ\n⊢ n + 0 = n"] and report["version"] == 1
    assert {"goal", "generate", "verify", "total"} <= set(report["timings_ms"])
    same = await client.protocol.send_request_async(
        "$/llmstep/suggest", {"textDocument": {"uri": uri}, "position": {"line": line, "character": 0}}
    )
    # pytest-lsp's client turns untyped results into named tuples
    assert [(s.tactic, s.status) for s in same.suggestions] == [("rfl", "closes"), ("induction n", "valid")]
    with pytest.raises(Exception, match=r"takes \[uri, line\]"):
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="llmstep.suggest", arguments=["not enough"])
        )


async def test_verdicts_are_reused_across_versions_for_the_same_goal(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="")
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "add_zero_nat", 1)
    first = [a.title for a in await code_actions_at(client, uri, line, 0)]
    shadow_syncs = len([m for m in received(fake_state) if ".llmstep/" in json.dumps(m.get("params", {}))])
    # An edit below the proof: new version, same goal, same environment → no candidate re-checked.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text + "\n-- a note\n")],
        )
    )
    again = await code_actions_at(client, uri, line, 0)
    assert [a.title for a in again] == first
    assert edit_of(again[0])[1] == 2
    new_syncs = [m for m in received(fake_state) if ".llmstep/" in json.dumps(m.get("params", {}))][
        shadow_syncs:
    ]
    texts = [c["text"] for m in new_syncs for c in (m["params"].get("contentChanges") or [])]
    assert len(texts) == 1 and "  sorry" in texts[0].split("\n")  # only the goal was read again


async def test_late_suggestions_publish_a_hint_and_then_answer_instantly(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """The editor asked before Lean finished: the lightbulb must still appear, unprompted."""
    await start_session(
        client, lean_project, fake_state, "--latency-ms", "400", model="", codeActionWaitMs=50
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    assert await code_actions_at(client, uri, line, 2) == []  # not ready within 50 ms
    while True:
        published = await asyncio.wait_for(
            client.wait_for_notification("textDocument/publishDiagnostics"), 30
        )
        if published.uri == uri and published.diagnostics:
            break
    (hint,) = published.diagnostics
    assert hint.severity == types.DiagnosticSeverity.Hint and hint.range.start.line == line
    assert hint.message.startswith("llmstep: ") and "rfl (closes goal)" in hint.message
    actions = await code_actions_at(client, uri, line, 2)  # now from the cache
    assert actions[0].title == "Try this: rfl (closes goal)" and list(actions[0].diagnostics or []) == [hint]
    # An edit makes the hint stale: it is withdrawn.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text + "\n")],
        )
    )
    cleared = await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 30)
    assert cleared.uri == uri and list(cleared.diagnostics) == []


async def test_a_cursor_that_moves_on_costs_no_lean_work(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="")
    text, uri = open_examples(client, lean_project)
    passing = proof_line(text, "two_eq_two", 1)
    resting = proof_line(text, "add_zero_nat", 1)
    moved_on, rested = await asyncio.gather(
        code_actions_at(client, uri, passing, 2), code_actions_at(client, uri, resting, 0)
    )
    assert moved_on == [] and rested[0].title == "Try this: rfl (closes goal)"
    probes = [
        c["text"].split("\n")
        for m in received(fake_state)
        if ".llmstep/" in json.dumps(m.get("params", {}))
        for c in (m["params"].get("contentChanges") or [m["params"].get("textDocument", {})])
        if "text" in c
    ]
    assert probes and all(p[passing] == text.split("\n")[passing] for p in probes)  # never asked about it


async def test_a_candidate_that_hangs_lean_does_not_block_the_others(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """LeanCopilot had to ban `aesop` for this; here the hanging check just times out alone."""
    await start_session(
        client,
        lean_project,
        fake_state,
        model="",
        automationTactics=["aesop_hang", "rfl", "simp"],
        verifyTimeoutS=1,
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    started = asyncio.get_running_loop().time()
    titles = [a.title for a in await code_actions_at(client, uri, line, 2)]
    assert titles == ["Try this: rfl (closes goal)", "Try this: simp (closes goal)"]
    assert asyncio.get_running_loop().time() - started < 10
    # Lean is still fine afterwards: the next request on another proof works.
    other = await code_actions_at(client, uri, proof_line(text, "add_zero_nat", 1), 0)
    assert other[0].title == "Try this: rfl (closes goal)"


async def test_an_edit_during_verification_publishes_nothing_stale(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, "--latency-ms", "300", model="")
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    asking = asyncio.create_task(code_actions_at(client, uri, line, 2))
    await asyncio.sleep(0.6)  # the goal is read, candidates are being checked
    edited = text.replace("theorem two_eq_two : 2 = 2", "theorem two_eq_two : 2 = 2 ∧ True")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)],
        )
    )
    assert await asking == []
    hints = [
        m for m in client.diagnostics.get(uri, []) if m.source == "llmstep"
    ]  # nothing was published for version 1
    assert hints == []


async def test_a_closing_suggestion_is_shown_before_slow_candidates_finish(
    client: LanguageClient, lean_project: Path, fake_state: Path, tmp_path: Path
) -> None:
    script = tmp_path / "slow.json"
    script.write_text(
        json.dumps(
            {
                "declarations": {"two_eq_two": ["⊢ 2 = 2"]},
                "tactics": {"⊢ 2 = 2": {"rfl": [], "omega": {"result": [], "delay_ms": 2500}}},
            }
        )
    )
    await start_session(
        client,
        lean_project,
        fake_state,
        script=script,
        model="",
        automationTactics=["omega", "rfl"],
        codeActionWaitMs=1200,
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    early = await code_actions_at(client, uri, line, 2)
    assert [a.title for a in early] == ["Try this: rfl (closes goal)"]  # omega is still being checked
    while True:  # the final result lands and its hint is published
        published = await asyncio.wait_for(
            client.wait_for_notification("textDocument/publishDiagnostics"), 30
        )
        if published.diagnostics and "2 verified" in published.diagnostics[0].message:
            break
    final = await code_actions_at(client, uri, line, 2)
    assert [a.title for a in final] == ["Try this: omega (closes goal)", "Try this: rfl (closes goal)"]


@pytest.mark.parametrize(("model", "first"), [("", "ready"), ("tiny", "loading")], ids=["no-model", "model"])
async def test_first_status_is_announced_right_after_initialize(
    client: LanguageClient, lean_project: Path, fake_state: Path, tiny_model: Path, model: str, first: str
) -> None:
    """A status bar needs a first state before any suggestion: `ready` without a model, else `loading`."""
    await start_session(client, lean_project, fake_state, model=tiny_model if model else "")
    if not client.statuses:  # type: ignore[attr-defined]
        await asyncio.wait_for(client.wait_for_notification(STATUS_NOTIFICATION), timeout=20)
    assert client.statuses[0][0] == first  # type: ignore[attr-defined]


async def test_candidates_are_checked_concurrently(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """Four candidates on four shadow documents take about one elaboration, not four."""
    latency_ms = 500
    await start_session(
        client,
        lean_project,
        fake_state,
        "--latency-ms",
        str(latency_ms),
        model="",
        automationTactics=["rfl", "simp", "omega", "decide"],
        verifyConcurrency=4,
    )
    text, uri = open_examples(client, lean_project)
    report = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="llmstep.suggest", arguments=[uri, proof_line(text, "two_eq_two", 1)]
        )
    )
    assert len(report["suggestions"]) == 4
    # each verdict needs one elaboration (latency) of its shadow document; in sequence that is ≥ 4×
    assert report["timings_ms"]["verify"] < 2.5 * latency_ms


async def test_suggestions_inside_a_focusing_dot_keep_the_dot(
    client: LanguageClient, lean_project: Path, fake_state: Path, tmp_path: Path
) -> None:
    script = bullets_script(tmp_path)
    await start_session(
        client, lean_project, fake_state, script=script, model="", automationTactics=["exact hq", "exact hp"]
    )
    path = lean_project / "Bullets.lean"
    statement = "theorem and_intro (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n"
    text = statement + "  constructor\n  · exa\n  · exact hq\n"
    uri = open_document(client, path, text)
    actions = await code_actions_at(client, uri, 2, len("  · exa"))
    assert [a.title for a in actions] == ["Try this: exact hp (closes goal)"]  # hq is for the other goal
    edit, _ = edit_of(actions[0])
    assert line_of(apply_edit(text, edit), 2) == "  · exact hp"
    assert_no_protocol_violation(fake_state)


STRUCTURE = """theorem and_swap (p q : Prop) (hp : p) (hq : q) : q ∧ p := by
  constructor
  case right =>
    sorry
  case left => sorry

theorem and_next (p q : Prop) (hp : p) (hq : q) : p ∧ q := by
  constructor
  next => exact hp
  next =>

theorem have_step (p q : Prop) (hp : p) (hpq : p → q) : q := by
  have hq : q := by
    sorry
  exact hq

theorem calc_chain (a b c : ℕ) (hab : a = b) (hbc : b = c) : a = c := by
  calc a = b := by

    _ = c := by
      exact hbc
"""


@pytest.mark.parametrize(
    ("theorem", "offset", "expected"),
    [
        ("and_swap", 3, "    exact hp"),  # `case right` focuses the second goal, not the first
        ("and_swap", 4, "  case left => exact hq"),
        ("and_next", 4, "    exact hq"),  # `next` after the first goal is done: the second
        ("have_step", 2, "    exact hpq hp"),  # the `have`'s own goal, without `hq` yet
        ("calc_chain", 2, "      exact hab"),  # a calc step's goal; deeper than the `_` steps
    ],
)
async def test_suggestions_in_case_next_have_and_calc_blocks_use_their_own_goal(
    client: LanguageClient,
    lean_project: Path,
    fake_state: Path,
    theorem: str,
    offset: int,
    expected: str,
) -> None:
    tactics = ["exact hp", "exact hq", "exact hpq hp", "exact hab", "exact hbc"]
    script = Path(__file__).parent / "fixtures" / "structure_script.json"
    await start_session(client, lean_project, fake_state, script=script, model="", automationTactics=tactics)
    uri = open_document(client, lean_project / "Structure.lean", STRUCTURE)
    line = proof_line(STRUCTURE, theorem, offset)
    actions = await code_actions_at(client, uri, line, len(STRUCTURE.split("\n")[line]))
    assert [a.title for a in actions] == [f"Try this: {expected.split('=> ')[-1].strip()} (closes goal)"]
    edit, version = edit_of(actions[0])
    assert (line_of(apply_edit(STRUCTURE, edit), line), version) == (expected, 1)
    assert_no_protocol_violation(fake_state)


async def test_a_cancelled_request_is_answered_at_once_and_the_work_serves_the_next_one(
    client: LanguageClient, lean_project: Path, fake_state: Path, tmp_path: Path
) -> None:
    """An editor cancels a code action when the cursor moves; the checks already under way still
    finish (they are shared, not per request) and the next request at that point is served from them."""
    log = tmp_path / "sidecar.log"
    await start_session(client, lean_project, fake_state, "--latency-ms", "1000", model="", logFile=str(log))
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    position = types.Position(line=line, character=2)
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=position, end=position),
        context=types.CodeActionContext(diagnostics=[]),
    )
    pending = asyncio.wrap_future(
        client.protocol.send_request("textDocument/codeAction", params, msg_id="cancel-me")
    )
    # Past the debounce: the suggestions are being computed (each Lean answer takes 1 s here).
    while not any(state == "working" for state, _ in client.statuses):  # type: ignore[attr-defined]
        await asyncio.wait_for(client.wait_for_notification(STATUS_NOTIFICATION), 60)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id="cancel-me"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(pending, 60)
    actions = await code_actions_at(client, uri, line, 2)
    assert actions[0].title == "Try this: rfl (closes goal)"
    computations = [entry for entry in log.read_text().splitlines() if f"suggest {uri}:{line} " in entry]
    assert len(computations) == 1, computations  # the second request reused the first one's work
    assert_no_protocol_violation(fake_state)

