"""Best-first proof search over a fake expander: which proof it finds, its budgets, cancellation;
and the proof text it produces at a suggestion point."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from lsprotocol import types

from llmstep_lsp.generation.base import GenerationRequest
from llmstep_lsp.generation.formats import FORMATS
from llmstep_lsp.lsp.publish import proof_actions, proof_edit
from llmstep_lsp.pipeline.results import ProofReport, Suggestion, SuggestionSet
from llmstep_lsp.search.best_first import Child, SearchLimits, SearchProgress, best_first_search
from llmstep_lsp.search.proof import after_path, render_proof
from llmstep_lsp.search.whole_proof import proof_from_output
from llmstep_lsp.text.suggestion_point import find_suggestion_point
from llmstep_lsp.verification.verifier import Verdict
from tests.support.lsp_text import apply_edit

# state -> [(tactic, mean log-prob, goals after)]; a tactic not listed is rejected by "Lean".
TREE: dict[tuple[str, ...], list[tuple[str, float | None, tuple[str, ...]]]] = {
    ("⊢ r",): [
        ("decoy", -0.1, ("⊢ dead end",)),  # the model's favourite, but nothing follows it
        ("apply hqr", -0.5, ("⊢ q",)),
        ("apply hpr", -2.0, ("⊢ p'",)),
    ],
    ("⊢ dead end",): [("decoy again", -0.1, ("⊢ deeper dead end",))],
    ("⊢ deeper dead end",): [],
    ("⊢ q",): [("apply hpq", -0.4, ("⊢ p",))],
    ("⊢ p",): [("exact hp", -0.3, ()), ("simp", None, ())],
    ("⊢ p'",): [("exact hp'", -0.1, ())],
}


class TreeExpander:
    """Expands from `TREE`; from call number `stall_from` on, an expansion never returns (a Lean
    that hangs) until the search cancels it."""

    def __init__(self, stall_from: int | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.stall_from = stall_from
        self.stalled = asyncio.Event()
        self.cancelled: list[tuple[str, ...]] = []
        """Paths whose expansion was cancelled while in progress."""

    async def expand(self, path: tuple[str, ...], goals: tuple[str, ...]) -> list[Child]:
        self.calls.append(path)
        if self.stall_from is not None and len(self.calls) >= self.stall_from:
            self.stalled.set()
            try:
                await asyncio.Event().wait()  # never set
            except asyncio.CancelledError:
                self.cancelled.append(path)
                raise
        return [Child(t, lp, after) for t, lp, after in TREE.get(goals, [])]


async def test_finds_the_multi_step_proof_after_leaving_a_dead_end() -> None:
    expander = TreeExpander()
    progress: list[SearchProgress] = []
    result = await best_first_search(expander, ("⊢ r",), SearchLimits(), progress.append)

    assert result.outcome == "proved"
    assert result.proof == ("apply hqr", "apply hpq", "exact hp")
    # The favourite was tried first and abandoned when it led nowhere.
    assert expander.calls[:2] == [(), ("decoy",)]
    assert ("decoy", "decoy again") in expander.calls
    assert result.expanded == len(expander.calls)
    assert result.max_depth == 3
    assert result.logprob == pytest.approx(-0.5 - 0.4 - 0.3)
    assert [p.expanded for p in progress] == list(range(len(progress)))
    assert max(p.depth for p in progress) == 2


async def test_the_higher_scoring_proof_wins_over_a_shallower_unlikely_one() -> None:
    tree_root: list[tuple[str, float | None, tuple[str, ...]]] = [
        ("apply hpr", -3.0, ("⊢ p'",)),
        ("apply hqr", -0.5, ("⊢ q",)),
    ]
    original = TREE[("⊢ r",)]
    TREE[("⊢ r",)] = tree_root
    try:
        result = await best_first_search(TreeExpander(), ("⊢ r",), SearchLimits())
    finally:
        TREE[("⊢ r",)] = original
    # apply hpr; exact hp' is shorter, but its path scores -3.1 < -1.2.
    assert result.proof == ("apply hqr", "apply hpq", "exact hp")


async def test_respects_the_iteration_budget() -> None:
    expander = TreeExpander()
    result = await best_first_search(expander, ("⊢ r",), SearchLimits(iterations=2))
    assert result.outcome == "iterations"
    assert result.proof is None
    assert result.expanded == 2
    assert len(expander.calls) == 2


async def test_the_time_budget_ends_a_search_whose_expansion_hangs() -> None:
    # The budget covers the whole search, the expansion in progress included: a Lean that never
    # answers ends the search as "timeout", not in a hang. (How close to the budget it stops is a
    # timing claim: bench/, not here.)
    expander = TreeExpander(stall_from=2)
    result = await best_first_search(expander, ("⊢ r",), SearchLimits(time_limit_s=1.0))
    assert result.outcome == "timeout"
    assert result.proof is None
    assert result.expanded == 1 and expander.calls == [(), ("decoy",)]
    assert expander.cancelled == [("decoy",)]  # the hung expansion was stopped, not abandoned


async def test_exhausted_when_no_path_closes_the_goal() -> None:
    result = await best_first_search(TreeExpander(), ("⊢ dead end",), SearchLimits())
    assert result.outcome == "exhausted"
    assert result.expanded == 2


async def test_depth_limit_stops_expanding_deep_nodes() -> None:
    result = await best_first_search(TreeExpander(), ("⊢ r",), SearchLimits(max_depth=2))
    # The likelier proof is 3 steps deep: with at most 2 steps only the unlikely one remains.
    assert result.outcome == "proved"
    assert result.proof == ("apply hpr", "exact hp'")


async def test_cancelling_the_search_stops_expanding() -> None:
    expander = TreeExpander(stall_from=2)
    task = asyncio.create_task(best_first_search(expander, ("⊢ r",), SearchLimits()))
    await asyncio.wait_for(expander.stalled.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The expansion in progress was cancelled with it; once the task is done, nothing can call
    # the expander again.
    assert expander.cancelled == [("decoy",)]
    assert expander.calls == [(), ("decoy",)]


def test_proof_lines_follow_the_point_indentation_and_bullets() -> None:
    lines = ["theorem t : p := by", "  constructor", "  · sorry", "  · simp"]
    point = find_suggestion_point(lines, 2)
    assert point is not None
    assert render_proof(point, ("apply foo", "exact bar")) == ["  · apply foo", "    exact bar"]
    new_lines, next_point = after_path(lines, point, ("apply foo", "exact bar"))
    assert new_lines == [
        "theorem t : p := by",
        "  constructor",
        "  · apply foo",
        "    exact bar",
        "    sorry",
        "  · simp",
    ]
    assert next_point.line == 4 and next_point.indent == "    " and next_point.holds_sorry


def test_whole_proof_from_a_completion_keeps_nested_blocks_and_stops_at_the_block_end() -> None:
    request = GenerationRequest(goal="⊢ p ∧ q", indent="  ")
    output = "constructor\n  · exact hp\n  · exact hq\n\ntheorem next : True := by\n  trivial\n```"
    proof = proof_from_output(output, FORMATS["lean4-code"], request)
    assert proof == ("constructor", "· exact hp", "· exact hq")


def test_whole_proof_from_a_chat_answer_skips_the_lines_already_written() -> None:
    request = GenerationRequest(
        goal="⊢ r", declaration="theorem t (hp : p) : r := by\n  apply hqr", indent="  "
    )
    output = "Here it is:\n```lean4\ntheorem t (hp : p) : r := by\n  apply hqr\n  apply hpq\n  exact hp\n```"
    assert proof_from_output(output, FORMATS["chat-proof"], request) == ("apply hpq", "exact hp")
    assert proof_from_output("no code here", FORMATS["chat-proof"], request) is None


def test_proof_actions_only_where_no_single_tactic_closes_the_goal() -> None:
    lines = ["theorem t : p ∧ q := by", "  constructor", "  · sorry"]
    point = find_suggestion_point(lines, 2)
    valid = Suggestion("apply foo", Verdict.VALID, ("⊢ q",), -0.3, "model")
    open_goal = SuggestionSet("file:///p/A.lean", 3, point, ("⊢ p",), (valid,))
    titles = [a.title for a in proof_actions(open_goal, whole_proofs=True)]
    assert titles == ["Search for a proof (llmstep)", "Complete the proof (llmstep, whole-proof model)"]
    assert [a.title for a in proof_actions(open_goal, whole_proofs=False)] == ["Search for a proof (llmstep)"]
    closing = Suggestion("exact hp", Verdict.CLOSES, (), -0.3, "model")
    assert proof_actions(replace(open_goal, suggestions=(valid, closing)), whole_proofs=True) == []
    assert proof_actions(replace(open_goal, goals=()), whole_proofs=True) == []


def test_the_proof_edit_replaces_the_sorry_for_its_version_and_keeps_the_comment() -> None:
    lines = ["theorem t : p ∧ q := by", "  constructor", "  · sorry -- 𝓝"]
    point = find_suggestion_point(lines, 2)
    report = ProofReport("file:///p/A.lean", 7, point, (("apply foo", "exact bar"),))
    edit = proof_edit(report, lambda text, index: len(text[:index].encode("utf-16-le")) // 2)
    assert edit is not None and edit.document_changes is not None
    (change,) = edit.document_changes
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 7
    (text_edit,) = change.edits
    assert isinstance(text_edit, types.TextEdit)
    after = apply_edit("\n".join(lines), text_edit)
    assert after.split("\n")[2:] == ["  · apply foo", "    exact bar -- 𝓝"]
    assert proof_edit(replace(report, proofs=()), len) is None
    crlf = proof_edit(report, lambda text, index: index, newline="\r\n")  # a CRLF document: CRLF lines
    assert crlf is not None and crlf.document_changes is not None
    (crlf_change,) = crlf.document_changes
    assert isinstance(crlf_change, types.TextDocumentEdit)
    assert crlf_change.edits[0].new_text == "apply foo\r\n    exact bar"
