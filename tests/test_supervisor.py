"""The restart gate's policy on a fake clock: when a restart may happen, when the child counts as
broken, and what resets it."""

from __future__ import annotations

from pathlib import Path

from llmstep_lsp.processes.restarts import RestartGate, RestartPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waits(gate: RestartGate, clock: Clock) -> float:
    """Seconds until the gate lets a start through (found by stepping the fake clock)."""
    waited = 0.0
    while gate.wait_reason() is not None:
        clock.now += 0.25
        waited += 0.25
    return waited


def test_the_first_failure_retries_at_once_then_the_wait_doubles_up_to_the_cap() -> None:
    clock = Clock()
    gate = RestartGate("lean", RestartPolicy(first_delay_s=1, max_delay_s=8, broken_after=3), clock=clock)
    delays = []
    for _ in range(7):
        gate.start_failed("boom")
        delays.append(waits(gate, clock))
    assert delays == [0, 1, 2, 4, 8, 8, 8]
    assert gate.broken and gate.failures == 7


def test_a_refused_start_says_how_often_it_failed_and_when_it_is_tried_again() -> None:
    clock = Clock()
    gate = RestartGate("the Lean server", clock=clock)
    gate.start_failed("boom")
    gate.start_failed("boom")
    assert gate.wait_reason() == "the Lean server failed 2 times in a row; next try in 1 s"
    assert not gate.broken
    gate.start_failed("boom")
    assert gate.broken


def test_only_a_death_soon_after_the_start_counts_as_a_failure() -> None:
    clock = Clock()
    gate = RestartGate("lean", RestartPolicy(healthy_after_s=10), clock=clock)
    gate.started()
    clock.now += 2
    gate.exited("died")
    assert gate.failures == 1 and gate.last_error == "died"
    gate.started()
    clock.now += 60  # it served for a minute
    gate.exited("died later")
    assert gate.failures == 0 and gate.wait_reason() is None
    gate.exited("reported twice")  # the same death noticed again changes nothing
    assert gate.failures == 0


def test_answering_after_failures_is_a_recovery_reported_once() -> None:
    gate = RestartGate("lean", clock=Clock())
    gate.answered()
    assert not gate.take_recovery()  # nothing had failed
    gate.start_failed("boom")
    gate.answered()
    assert gate.take_recovery()
    assert not gate.take_recovery()


def test_editing_a_watched_file_or_a_reset_allows_a_start_at_once(tmp_path: Path) -> None:
    toolchain = tmp_path / "lean-toolchain"
    toolchain.write_text("leanprover/lean4:broken\n")
    clock = Clock()
    gate = RestartGate("lean", watched=[toolchain, tmp_path / "lakefile.toml"], clock=clock)
    for _ in range(4):
        gate.start_failed("boom")
    assert gate.wait_reason() is not None
    toolchain.write_text("leanprover/lean4:v4.20.0\n")
    assert gate.wait_reason() is None and gate.failures == 0
    for _ in range(4):
        gate.start_failed("boom")
    (tmp_path / "lakefile.toml").write_text("name = 'x'\n")  # a new lakefile counts too
    assert gate.wait_reason() is None
    for _ in range(4):
        gate.start_failed("boom")
    gate.reset()
    assert gate.wait_reason() is None and not gate.broken
