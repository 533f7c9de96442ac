"""`llmstep-lsp train`: the loss goes down, and what it saves is a model the server loads and uses.

The base model is the cached tiny GPT-NeoX (tests/support/tiny_model.py); the data is a slice of
the shared miniF2F proofsteps. The models are tiny, so what is tested is the plumbing a user
relies on (format, masking, EOS, checkpoints, loading), not accuracy.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation.backends.huggingface import TransformersGenerator
from llmstep_lsp.generation.base import GenerationRequest
from llmstep_lsp.training.loop import IGNORE_INDEX, REPORT_FILE, TrainConfig, encode_example, train
from llmstep_lsp.training.proofsteps import ProofStep
from tests.support.cli import run_cli
from tests.support.tiny_model import NEEDS_SHARED_DATA, SHARED_DATA

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason=NEEDS_SHARED_DATA)


def generator_for(model: Path, temperature: float = 0.0) -> TransformersGenerator:
    """The server's own generator for `--model DIR` (the default llmstep preset and format)."""
    config = Settings(
        model=str(model), temperature=temperature, num_samples=10, max_new_tokens=48
    ).generation()
    assert config is not None and config.format.name == "proofstep"
    return TransformersGenerator(config)


def first_rows(n: int, target: Path) -> Path:
    target.write_text("".join(SHARED_DATA.read_text(encoding="utf-8").splitlines(keepends=True)[:n]))
    return target


async def test_train_command_lowers_the_loss_and_saves_models_the_server_loads(
    tiny_model: Path, tmp_path: Path
) -> None:
    data = first_rows(24, tmp_path / "slice.jsonl")
    output = tmp_path / "tuned"
    result = run_cli(
        "train", str(data), "--model", str(tiny_model), "--output", str(output), "--valid", str(data),
        "--epochs", "2", "--lr", "1e-3", "--batch-size", "8", "--max-length", "512",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "epoch 1/2: train loss" in result.stdout and "epoch 2/2: train loss" in result.stdout
    report = json.loads((output / REPORT_FILE).read_text())
    assert report["examples"] == 24 and report["steps"] == 2 * 3
    before, *after = report["valid_losses"]
    assert after[-1] < before, report
    assert report["epoch_losses"][1] < report["epoch_losses"][0], report
    # One checkpoint after epoch 1, the final model in OUTPUT; both load like any model directory.
    assert report["checkpoints"] == [str(output / "checkpoint-3")]
    for model in (output, output / "checkpoint-3"):
        torch.manual_seed(0)  # a barely trained model's samples can all fail the filters: not by luck
        generator = generator_for(model, temperature=1.0)
        request = GenerationRequest(goal="x : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2", prefix="lin")
        candidates = await generator.generate(request)
        assert candidates, model
        for candidate in candidates:
            assert "\n" not in candidate.tactic and candidate.tactic.startswith("lin")
    assert "%|" not in result.stderr  # no progress bar when stderr is not a terminal


async def test_a_tuned_model_answers_what_it_was_taught_when_served(tiny_model: Path, tmp_path: Path) -> None:
    """Training and serving must agree on the prompt and on EOS: greedy decoding through the
    server's generator then gives back exactly the taught tactic, and stops right after it."""
    taught = {
        "⊢ 54 % 6 = 0": "simp only [mod_eq_zero_of_dvd]",
        "⊢ 1529 % 6 = 5": "conv => lhs; rw [← Nat.mod_add_div 1529 6]",
        "⊢ 194 % 11 = 7": "exact rfl",
    }
    untrained = generator_for(tiny_model)
    before = {g: (await untrained.generate(GenerationRequest(goal=g)))[0].tactic for g in taught}
    assert before != taught  # the base model does not know these already
    data = tmp_path / "taught.jsonl"
    data.write_text("".join(json.dumps({"state": g, "tactic": t}) + "\n" for g, t in taught.items()))
    config = TrainConfig(
        model=str(tiny_model), data=data, output=tmp_path / "tuned", epochs=60,
        learning_rate=3e-3, batch_size=3, warmup_ratio=0.0, quiet=True,
    )  # fmt: skip
    printed = io.StringIO()
    train(config, out=printed)
    assert "epoch 60/60: train loss" in printed.getvalue()
    tuned = generator_for(tmp_path / "tuned")
    after = {g: [c.tactic for c in await tuned.generate(GenerationRequest(goal=g))] for g in taught}
    assert after == {g: [t] for g, t in taught.items()}
    # The same model through `eval steps`: every state right at top-1; the baseline gets one.
    result = run_cli(
        "eval",
        "steps",
        str(data),
        "--model",
        str(tmp_path / "tuned"),
        "--temperature",
        "0",
        "--k",
        "1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["topk"][0]
    assert (row["model_hits"], row["baseline_hits"]) == (3, 1)


def test_only_the_tactic_and_eos_carry_loss(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    example = encode_example(tokenizer, ProofStep("⊢ 1 = 1", "rfl"), max_length=512)
    assert example is not None
    prompt_ids = tokenizer("[GOAL]⊢ 1 = 1[PROOFSTEP]").input_ids
    assert example.input_ids[: len(prompt_ids)] == prompt_ids
    assert example.labels[: len(prompt_ids)] == [IGNORE_INDEX] * len(prompt_ids)
    target = [t for t in example.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(target) == "rfl<|endoftext|>"
    assert encode_example(tokenizer, ProofStep("⊢ 1 = 1", "rfl"), max_length=len(prompt_ids)) is None


def test_train_refuses_bad_data_with_the_line_and_what_was_expected(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"state": "⊢ True", "tactic": "trivial"}\n{"goal": "⊢ True", "proof": "trivial"}\n')
    result = run_cli("train", str(data), "--model", str(tiny_model), "--output", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{data}:2:" in result.stderr and "'state' and 'tactic'" in result.stderr
    assert not (tmp_path / "out").exists()
    # An earlier run's directory is never overwritten.
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "config.json").write_text("{}")
    again = run_cli(
        "train",
        str(first_rows(2, tmp_path / "ok.jsonl")),
        "--model",
        str(tiny_model),
        "-o",
        str(tmp_path / "out"),
    )
    assert again.returncode == 2 and "is not empty" in again.stderr
    assert (tmp_path / "out" / "config.json").read_text() == "{}"


def test_train_without_the_model_extra_says_how_to_install(tmp_path: Path) -> None:
    data = first_rows(2, tmp_path / "slice.jsonl")
    code = (
        "import sys; sys.modules['torch'] = None\n"  # as if torch were not installed
        "from llmstep_lsp.cli.main import main\n"
        f"sys.exit(main(['train', {str(data)!r}, '--model', 'm', '--output', {str(tmp_path / 'o')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "torch is missing" in result.stderr and "pip install" in result.stderr


class _StopAt(io.StringIO):
    """Training output that is interrupted (as by Ctrl+C or a killed job) when a line starts with
    `line`: the run stops right there, whatever it was doing."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line

    def write(self, text: str) -> int:
        if text.startswith(self.line):
            raise KeyboardInterrupt
        return super().write(text)


def test_an_interrupted_run_resumes_from_its_last_checkpoint_exactly(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Optimiser, schedule, shuffle order and step come back: the resumed run's per-step losses are
    the uninterrupted run's. Off a terminal, progress lines come as often as asked."""
    data = first_rows(24, tmp_path / "slice.jsonl")
    common = dict(model=str(tiny_model), data=data, valid=data, epochs=2, learning_rate=1e-3,
                  max_length=512, save_every=2, progress_every_s=0.0)  # fmt: skip
    whole_out = io.StringIO()
    whole = train(TrainConfig(output=tmp_path / "whole", **common), out=whole_out)  # type: ignore[arg-type]
    assert len(whole.step_losses) == whole.steps == 6
    assert "step 1/6 (epoch 1/2): loss" in whole_out.getvalue() and "steps/s, ETA" in whole_out.getvalue()
    assert "0 training and 0 validation examples skipped" in whole_out.getvalue()

    output = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(output=output, **common), out=_StopAt("step 5/6"))  # type: ignore[arg-type]
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    refused = run_cli("train", str(data), "--model", str(tiny_model), "-o", str(output))
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed_out = io.StringIO()
    resumed = train(TrainConfig(output=output, resume=True, **common), out=resumed_out)  # type: ignore[arg-type]
    assert "resuming from" in resumed_out.getvalue() and "checkpoint-4 at step 4/6" in resumed_out.getvalue()
    assert resumed.steps == 6
    assert resumed.step_losses == pytest.approx(whole.step_losses, rel=1e-5)
    assert resumed.epoch_losses == pytest.approx(whole.epoch_losses, rel=1e-5)
    saved = json.loads((output / REPORT_FILE).read_text())
    assert len(saved["step_losses"]) == 6 and saved["valid_skipped"] == 0
