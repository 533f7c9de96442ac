"""`llmstep-lsp eval steps`: top-k exact match of the generator on recorded (state, tactic) pairs.

Rows are grouped by state (a state may have several accepted tactics). For each state the
configured generator is asked for the next tactic with an empty prefix, exactly as the server
would ask it, and its candidates are filtered and ranked as the server ranks them
(`ranking.merge_ranked`); a state is a hit at k when any of the first k distinct suggestions equals
any accepted tactic, after whitespace normalisation. Next to it stands the frequency baseline: the k
most frequent tactics, suggested for every state. The honest baseline is fitted on the model's
training data (`--baseline-data`); without it, it is fitted on the scored data itself, an optimistic
bar that a held-out split inflates (on miniF2F held-out theorems: 10.6 / 34.8 / 43.9 % instead of the
honest 6.1 / 21.2 / 25.8 % top-1/5/10), and the output says so. Nothing is checked by Lean here: this
measures the generator alone.

With no model (`--model ''`) the generator is the model-free one, the `automationTactics` list in
its order, which is what the server suggests offline.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation.automation import AutomationGenerator
from llmstep_lsp.generation.base import GenerationRequest, Generator, ModelUnavailable
from llmstep_lsp.generation.factory import ModelGenerator, build_model_generator
from llmstep_lsp.generation.formats import PromptFormat
from llmstep_lsp.generation.ranking import merge_ranked, normalise_tactic
from llmstep_lsp.training.proofsteps import DataError, ProofStep, load_proofsteps

SCORED_DATA = "the scored data itself (optimistic: pass --baseline-data with the training data)"


@dataclass(frozen=True)
class StateTactics:
    """One goal state of the data with every tactic the data accepts there (top-k counts a hit on any)."""

    state: str
    accepted: tuple[str, ...]
    """Normalised accepted tactics, distinct, in the data's order."""
    theorem: str | None = None
    """The theorem it comes from, where the data says (the filters reject tactics naming it)."""


@dataclass(frozen=True)
class TopK:
    """Hits at one k: states where the model's (or the baseline's) top k held an accepted tactic."""

    k: int
    model_hits: int
    baseline_hits: int


@dataclass(frozen=True)
class StepsReport:
    """`eval steps` scores: the generator's and the frequency baseline's hits per k over `states`."""

    generator: str
    states: int
    rows: tuple[TopK, ...]
    baseline: tuple[str, ...]
    """The baseline's suggestions, most frequent first (as many as the largest k)."""
    baseline_fitted_on: str = SCORED_DATA
    """Where the baseline's frequencies come from: a file, or `SCORED_DATA` (optimistic)."""

    def as_json(self) -> dict[str, Any]:
        """The report as printed by `--json`: accuracies are hits / states (fractions, not percent)."""
        n = max(1, self.states)
        return {
            "generator": self.generator,
            "states": self.states,
            "baseline_tactics": list(self.baseline),
            "baseline_fitted_on": self.baseline_fitted_on,
            "topk": [
                {
                    "k": row.k,
                    "model_hits": row.model_hits,
                    "model_accuracy": row.model_hits / n,
                    "baseline_hits": row.baseline_hits,
                    "baseline_accuracy": row.baseline_hits / n,
                }
                for row in self.rows
            ],
        }


def group_by_state(steps: Iterable[ProofStep]) -> list[StateTactics]:
    """Steps grouped by goal state (data order), each with its distinct normalised accepted tactics."""
    accepted: dict[str, list[str]] = {}
    theorems: dict[str, str | None] = {}
    for step in steps:
        tactics = accepted.setdefault(step.state, [])
        theorems.setdefault(step.state, step.theorem)
        tactic = normalise_tactic(step.tactic)
        if tactic not in tactics:
            tactics.append(tactic)
    return [StateTactics(state, tuple(tactics), theorems[state]) for state, tactics in accepted.items()]


def frequency_baseline(states: list[StateTactics], k: int) -> tuple[str, ...]:
    """The k tactics accepted at the most states; ties go to the one seen first."""
    counts = collections.Counter(t for s in states for t in s.accepted)
    return tuple(tactic for tactic, _ in counts.most_common(k))


def hit_at(ranked: list[str], accepted: tuple[str, ...], k: int) -> bool:
    """Whether any of the first `k` ranked tactics is accepted (texts compared normalised)."""
    return any(tactic in accepted for tactic in ranked[:k])


async def evaluate_steps(
    states: list[StateTactics],
    generator: Generator,
    ks: list[int],
    label: str,
    main_goal_only: bool = False,
    on_state: Callable[[], None] = lambda: None,
    baseline_states: tuple[str, list[StateTactics]] | None = None,
) -> StepsReport:
    """Scores `generator` on `states`; `main_goal_only` mirrors the `promptGoals: main` setting.

    `baseline_states` is (its name, the states) the frequency baseline is fitted on; default: `states`.
    """
    fitted_on, fitted = baseline_states or (SCORED_DATA, states)
    baseline = frequency_baseline(fitted, max(ks))
    ranked_per_state: list[list[str]] = []
    for state in states:
        # The server joins Lean's goals with a blank line, as the data's states are written.
        goal = state.state.split("\n\n", 1)[0] if main_goal_only else state.state
        proposed = await generator.generate(GenerationRequest(goal=goal, theorem_name=state.theorem))
        # Ranked as the product ranks them, the filter included; merged texts are distinct.
        ranked_per_state.append([normalise_tactic(c.tactic) for c in merge_ranked(proposed, state.theorem)])
        on_state()
    rows = tuple(
        TopK(
            k,
            sum(hit_at(ranked, s.accepted, k) for ranked, s in zip(ranked_per_state, states, strict=True)),
            sum(hit_at(list(baseline), s.accepted, k) for s in states),
        )
        for k in ks
    )
    return StepsReport(label, len(states), rows, baseline, fitted_on)


def format_table(report: StepsReport) -> str:
    """The reports as a plain-text table: one row per k, model and baseline accuracy in percent."""
    n = max(1, report.states)
    lines = [
        f"generator: {report.generator}",
        f"{'k':>3}  {'model top-k':>18}  {'baseline top-k':>18}  {'n':>5}",
    ]
    for row in report.rows:
        model = f"{100 * row.model_hits / n:5.1f}% ({row.model_hits})"
        baseline = f"{100 * row.baseline_hits / n:5.1f}% ({row.baseline_hits})"
        lines.append(f"{row.k:>3}  {model:>18}  {baseline:>18}  {report.states:>5}")
    lines.append("baseline suggests, for every state: " + ", ".join(report.baseline))
    lines.append(f"baseline fitted on: {report.baseline_fitted_on}")
    return "\n".join(lines)


def parse_ks(text: str) -> list[int]:
    """'1,5,10' → [1, 5, 10]; raises ValueError with the reason."""
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as err:
        raise ValueError(f"--k expects comma-separated integers like 1,5,10, got {text!r}") from err
    if not ks or ks[0] < 1:
        raise ValueError(f"--k expects integers ≥ 1, got {text!r}")
    return ks


def run_eval_steps(
    settings: Settings,
    data: Path,
    k_text: str,
    limit: int | None,
    as_json: bool,
    seed: int,
    out: TextIO = sys.stdout,
    baseline_data: Path | None = None,
) -> int:
    """The `eval steps` command; returns the exit status (2: bad input or a model that cannot load)."""
    try:
        ks = parse_ks(k_text)
        if limit is not None and limit < 1:
            raise ValueError("--limit must be ≥ 1")
        states = group_by_state(load_proofsteps(data))[:limit]
        fitted = None
        if baseline_data is not None:
            fitted = (str(baseline_data), group_by_state(load_proofsteps(baseline_data)))
    except (ValueError, DataError) as err:
        print(f"llmstep-lsp: {err}", file=sys.stderr)
        return 2
    config = settings.generation()
    generator: Generator
    model: ModelGenerator | None = None
    if config is None:
        generator = AutomationGenerator(settings.automation_tactics)
        label = "automation tactics (no model): " + ", ".join(settings.automation_tactics)
    else:
        if max(ks) > config.num_samples:
            print(
                f"llmstep-lsp: k={max(ks)} is more than the {config.num_samples} samples drawn per state;"
                f" pass --num-samples {max(ks)} or a smaller --k",
                file=sys.stderr,
            )
            return 2
        if problem := _format_problem(config.format):
            print(f"llmstep-lsp: {problem}", file=sys.stderr)
            return 2
        if config.format.uses_context:
            print(
                f"llmstep-lsp: note: format {config.format.name} also shows the file text before the"
                " cursor, which (state, tactic) data does not have: its prompts carry the goal alone",
                file=sys.stderr,
            )
        if config.temperature == 0 and max(ks) > 1:
            print(
                "llmstep-lsp: temperature 0 draws a single sample, so top-k for k > 1 is top-1",
                file=sys.stderr,
            )
        _seed(seed)
        generator = model = build_model_generator(config)
        label = f"{config.model} ({config.backend}, format {config.format.name}, "
        label += f"{config.num_samples} samples, temperature {config.temperature})"
    try:
        main_only = settings.prompt_goals == "main"
        report = asyncio.run(_evaluate(states, generator, model, ks, label, main_only, fitted))
    except ModelUnavailable as err:
        print(f"llmstep-lsp: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_json(), indent=2) if as_json else format_table(report), file=out)
    return 0


async def _evaluate(
    states: list[StateTactics],
    generator: Generator,
    model: ModelGenerator | None,
    ks: list[int],
    label: str,
    main_goal_only: bool,
    fitted: tuple[str, list[StateTactics]] | None,
) -> StepsReport:
    progress = _progress(len(states))
    try:
        if model is not None:
            await model.load()  # fail on a missing model before the first state, with the fix
        return await evaluate_steps(
            states, generator, ks, label, main_goal_only, lambda: progress.update(1), fitted
        )
    finally:
        progress.close()
        if model is not None:
            await model.close()  # a llama.cpp server it started stops with the command


def _format_problem(prompt_format: PromptFormat) -> str | None:
    """Why `prompt_format` cannot be scored on (state, tactic) pairs, or None: a format that shows
    the model no goal (only the file text or the declaration) would send one identical prompt for
    every state, and its score would mean nothing."""
    if "{goal}" in prompt_format.template:
        return None
    return (
        f"prompt format {prompt_format.name} shows the model the file text, not the goal, and"
        " (state, tactic) data has no file text: every state would get the same prompt. Score a"
        ' format that shows the goal (--settings \'{"promptFormat": "state-tactic"}\', or'
        " proofstep, state, context-state-tactic, few-shot)"
    )


def _seed(seed: int) -> None:
    """Sampling with a local model is repeatable for a given seed (HTTP endpoints sample on their side)."""
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int) -> Any:
    """A bar on stderr for people at a terminal; tqdm comes with the model extra, so it is optional."""
    if not sys.stderr.isatty():
        return _NoProgress()
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, unit="state", file=sys.stderr)
