"""`llmstep-lsp eval steps`: exact top-k numbers for a generator with known answers, the frequency
baseline beside them, and a model-free run on the shared miniF2F proofsteps."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from llmstep_lsp.config.settings import DEFAULT_AUTOMATION_TACTICS
from llmstep_lsp.evaluation.steps import evaluate_steps, group_by_state
from llmstep_lsp.generation.base import Candidate, GenerationRequest
from llmstep_lsp.generation.ranking import scored_samples
from llmstep_lsp.training.proofsteps import ProofStep
from tests.support.cli import run_cli
from tests.support.fake_openai import FakeOpenAI
from tests.support.tiny_model import NEEDS_SHARED_DATA, SHARED_DATA

ROWS = [
    ("a b : ℝ\nh : a < b\n⊢ a ≤ b", "linarith"),
    ("a b : ℝ\nh : a < b\n⊢ a ≤ b", "nlinarith"),
    ("a b : ℝ\nh : a < b\n⊢ a ≤ b", "linarith"),  # the same pair from another source
    ("⊢ [1, 2].length = 2", "simp"),
    ("x : ℕ\nh₀ : x = 3\n⊢ x + 1 = 4", "norm_num [h₀]"),
    ("a b : ℤ\n⊢ (a + b) ^ 2 = a ^ 2 + 2 * a * b + b ^ 2", "ring"),
    ("x : ℝ\nh₀ : 3 * x = 6\n⊢ x = 2", "linarith"),
]


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    path = tmp_path / "steps.jsonl"
    path.write_text("".join(json.dumps({"state": s, "tactic": t}) + "\n" for s, t in ROWS))
    return path


def test_topk_of_a_generator_with_known_answers_next_to_the_baseline(handmade: Path) -> None:
    with FakeOpenAI() as fake:
        # Every state gets the same three samples, ranked in this order (equal frequency, no
        # log-probs); the third differs from the data's `norm_num [h₀]` in whitespace only.
        fake.script.texts = ["nlinarith", "simp", "norm_num  [h₀]"]
        settings = json.dumps({"backend": "openai", "promptFormat": "proofstep"})
        result = run_cli(
            "eval", "steps", str(handmade), "--k", "1,2,3", "--json", "--settings", settings,
            "--model", "served-model", "--endpoint", fake.endpoint, "--num-samples", "3",
        )  # fmt: skip
        prompts = [r["body"]["prompt"] for r in fake.requests]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Five distinct states; each was asked once, in llmstep's format with the empty prefix.
    assert report["states"] == 5
    assert prompts == [f"[GOAL]{s}[PROOFSTEP]" for s in dict.fromkeys(s for s, _ in ROWS)]
    assert [(r["k"], r["model_hits"]) for r in report["topk"]] == [(1, 1), (2, 2), (3, 3)]
    assert report["topk"][0]["model_accuracy"] == pytest.approx(0.2)
    # Baseline: linarith is accepted at 2 states; ties keep the data's order.
    assert report["baseline_tactics"] == ["linarith", "nlinarith", "simp"]
    assert [(r["k"], r["baseline_hits"]) for r in report["topk"]] == [(1, 2), (2, 2), (3, 3)]


def test_the_table_names_the_generator_and_shows_both_columns(handmade: Path) -> None:
    result = run_cli("eval", "steps", str(handmade), "--model", "", "--k", "1,8")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("generator: automation tactics (no model): rfl, simp")
    assert "model top-k" in lines[1] and "baseline top-k" in lines[1]
    # Automation (rfl, simp, omega, decide, norm_num, linarith, …): top-1 rfl hits nothing; the
    # whole list hits simp and linarith (2 states), ring (1): 4 of 5. Baseline top-8: all 5.
    assert lines[2].split() == ["1", "0.0%", "(0)", "40.0%", "(2)", "5"]
    assert lines[3].split() == ["8", "80.0%", "(4)", "100.0%", "(5)", "5"]


@pytest.mark.skipif(not SHARED_DATA.exists(), reason=NEEDS_SHARED_DATA)
def test_model_free_run_on_the_shared_minif2f_proofsteps() -> None:
    result = run_cli("eval", "steps", str(SHARED_DATA), "--model", "", "--limit", "60", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Recompute independently: group by state, keep the first 60, score both lists.
    accepted: dict[str, set[str]] = collections.defaultdict(set)
    for line in SHARED_DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        accepted[row["state"]].add(" ".join(row["tactic"].split()))
    states = list(accepted.values())[:60]
    counts = collections.Counter(t for tactics in states for t in tactics)
    top = [t for t, _ in counts.most_common(10)]
    assert report["states"] == 60
    for row in report["topk"]:
        k = row["k"]
        assert row["model_hits"] == sum(bool(s & set(DEFAULT_AUTOMATION_TACTICS[:k])) for s in states)
        assert row["baseline_hits"] == sum(bool(s & set(top[:k])) for s in states)
    assert [r["k"] for r in report["topk"]] == [1, 5, 10]
    hits = [r["baseline_hits"] for r in report["topk"]]
    assert 0 < hits[0] <= hits[1] <= hits[2] < 60


def test_clear_errors_before_any_model_loads(handmade: Path, tmp_path: Path) -> None:
    too_many = run_cli("eval", "steps", str(handmade), "--k", "1,20", "--num-samples", "10")
    assert too_many.returncode == 2 and "--num-samples 20" in too_many.stderr
    bad_k = run_cli("eval", "steps", str(handmade), "--k", "one")
    assert bad_k.returncode == 2 and "--k expects" in bad_k.stderr
    bad_data = tmp_path / "bad.jsonl"
    bad_data.write_text('{"state": "⊢ True", "tactic": "trivial"}\nnot json\n')
    broken = run_cli("eval", "steps", str(bad_data), "--model", "")
    assert broken.returncode == 2 and f"{bad_data}:2: not valid JSON" in broken.stderr


def test_a_model_that_cannot_load_is_named_with_the_fix(handmade: Path) -> None:
    result = run_cli("eval", "steps", str(handmade), "--model", "/nonexistent/model")
    assert result.returncode == 2
    assert "/nonexistent/model" in result.stderr and "Fix:" in result.stderr


class Recording:
    """A generator that records what it was asked and proposes the theorem's own name first (a backend
    proposes as sampled: the filter is the caller's, as in the server)."""

    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        self.requests.append(request)
        samples = [("exact two_goals", -0.1, -0.3), ("constructor", -0.2, -0.2)]
        return scored_samples(samples)


async def test_the_generator_is_asked_as_the_server_would_ask() -> None:
    state = "case left\n⊢ 1 = 1\n\ncase right\n⊢ 2 = 2"
    states = group_by_state([ProofStep(state, "constructor", "two_goals")])
    generator = Recording()
    everything = await evaluate_steps(states, generator, [1], "recording")
    main_only = await evaluate_steps(states, generator, [1], "recording", main_goal_only=True)
    assert [r.goal for r in generator.requests] == [state, "case left\n⊢ 1 = 1"]
    assert {r.prefix for r in generator.requests} == {""}
    # `eval steps` filters as the server does: the tactic that names the theorem being proved is dropped.
    assert everything.rows[0].model_hits == main_only.rows[0].model_hits == 1


def test_the_baseline_is_fitted_on_the_training_data_when_given_and_says_where(
    handmade: Path, tmp_path: Path
) -> None:
    """Fitted on the scored (held-out) file, the baseline knows the answers: an optimistic bar that
    made a better model look worse."""
    training = tmp_path / "train.jsonl"
    rows = [("⊢ 1 = 1", "rfl"), ("⊢ 2 = 2", "rfl"), ("⊢ [1].length = 1", "simp")]
    training.write_text("".join(json.dumps({"state": s, "tactic": t}) + "\n" for s, t in rows))
    honest = run_cli("eval", "steps", str(handmade), "--model", "", "--k", "1,2", "--json",
                     "--baseline-data", str(training))  # fmt: skip
    assert honest.returncode == 0, honest.stderr
    report = json.loads(honest.stdout)
    assert report["baseline_tactics"] == ["rfl", "simp"] and report["baseline_fitted_on"] == str(training)
    assert [(r["k"], r["baseline_hits"]) for r in report["topk"]] == [(1, 0), (2, 1)]
    optimistic = run_cli("eval", "steps", str(handmade), "--model", "", "--k", "1,2")
    assert "baseline fitted on: the scored data itself (optimistic" in optimistic.stdout


def test_a_format_that_shows_no_goal_is_refused_instead_of_scored_on_one_prompt(handmade: Path) -> None:
    """`lean4-code` shows the file so far; (state, tactic) data has none, so all states looked alike."""
    with FakeOpenAI() as fake:
        deepseek = json.dumps({"preset": "deepseek-prover"})
        refused = run_cli("eval", "steps", str(handmade), "--settings", deepseek,
                          "--endpoint", fake.endpoint, "--k", "1")  # fmt: skip
        assert refused.returncode == 2 and "lean4-code" in refused.stderr and "state-tactic" in refused.stderr
        assert fake.requests == [], "nothing was generated for a meaningless score"
        fake.script.texts = ["simp"]
        settings = json.dumps({"preset": "llemma"})  # file context + the goal
        noted = run_cli("eval", "steps", str(handmade), "--settings", settings, "--endpoint", fake.endpoint,
                        "--k", "1", "--num-samples", "1")  # fmt: skip
        assert noted.returncode == 0, noted.stderr
        assert "carry the goal alone" in noted.stderr
        assert len({r["body"]["prompt"] for r in fake.requests}) == 5, "one prompt per state"
