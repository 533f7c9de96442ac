"""Generation: tiny models through `from_pretrained`, formats, presets, prefix, dedup, ranking, filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmstep_lsp.config.presets import BUILTIN_PRESETS, GenerationConfig
from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import Candidate, GenerationRequest, ModelUnavailable
from llmstep_lsp.generation.automation import AutomationGenerator
from llmstep_lsp.generation.backends.causal_sampler import _stops
from llmstep_lsp.generation.backends.hf_loading import load_model
from llmstep_lsp.generation.backends.huggingface import TransformersGenerator
from llmstep_lsp.generation.filters import rejection_reason
from llmstep_lsp.generation.formats import FORMATS, next_tactic_in_proof, tail_at_line
from llmstep_lsp.generation.ranking import merge_ranked
from tests.support.sampler_checks import check_greedy_equals_generate

MONOTONE_GOAL = "f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"


def causal_config(model: Path, **overrides: object) -> GenerationConfig:
    settings, problems = Settings.from_mapping({"model": str(model), **overrides})
    assert not problems
    config = settings.generation()
    assert config is not None
    return config


def test_default_preset_is_llmsteps_model_and_sampling() -> None:
    config = Settings().generation()
    assert config is not None
    assert (config.model, config.backend, config.format.name) == (
        "wellecks/llmstep-mathlib4-pythia2.8b",
        "transformers",
        "proofstep",
    )
    assert (config.num_samples, config.temperature, config.max_new_tokens) == (10, 0.5, 128)


def test_proofstep_prompt_is_llmsteps_format() -> None:
    request = GenerationRequest(goal="⊢ 2 = 2", prefix="ex")
    assert FORMATS["proofstep"].render(request) == "[GOAL]⊢ 2 = 2[PROOFSTEP]ex"


async def test_tiny_model_keeps_the_prefix_and_returns_single_line_scored_tactics(tiny_model: Path) -> None:
    generator = TransformersGenerator(causal_config(tiny_model, maxNewTokens=48))
    candidates = await generator.generate(GenerationRequest(goal=MONOTONE_GOAL, prefix="exact"))
    assert 0 < len(candidates) <= 10, "one candidate per sample, at most numSamples"
    tactics = [c.tactic for c in candidates]
    assert all(t.startswith("exact") and "\n" not in t for t in tactics)
    assert all(c.score is not None and c.score <= 0 for c in candidates)
    # the total over the sample's tokens (≥ 2 tokens here: text and the stop) is below the mean
    assert all(c.log_prob is not None and c.score is not None and c.log_prob < c.score for c in candidates)
    # The pipeline's ranking: duplicates merged, best score first.
    ranked = merge_ranked(candidates)
    assert len({c.tactic for c in ranked}) == len(ranked)
    scores = [c.score for c in ranked]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    # It learned this proofstep; a random model would never produce it.
    assert any(t.startswith("exact h (Nat.le_succ") for t in tactics)


async def test_samples_stop_at_eos_long_before_the_token_limit(tiny_model: Path) -> None:
    generator = TransformersGenerator(causal_config(tiny_model, numSamples=4))
    candidates = await generator.generate(GenerationRequest(goal=MONOTONE_GOAL))
    assert candidates and max(len(c.tactic) for c in candidates) < 60


async def test_greedy_decoding_gives_one_best_tactic(tiny_model: Path) -> None:
    generator = TransformersGenerator(causal_config(tiny_model, temperature=0))
    candidates = await generator.generate(GenerationRequest(goal=MONOTONE_GOAL, prefix="exact h ("))
    assert [c.tactic for c in candidates] in (["exact h (Nat.le_succ _)"], ["exact h (Nat.le_succ n)"])


def test_greedy_sampler_gives_what_transformers_generate_gives(tiny_model: Path) -> None:
    """Our loop (last-position prefill, shared rows, stops on the new text only) decodes the same
    tactic as the library's own greedy `generate`, prefix or not."""
    check_greedy_equals_generate(load_model(causal_config(tiny_model, temperature=0)), MONOTONE_GOAL,
                                 ("", "exact", "intro"))  # fmt: skip


@pytest.mark.parametrize("stop", ["\n", "[/TAC]", "\n\n"])
def test_stop_strings_are_found_when_split_across_tokens(stop: str) -> None:
    """A stop string is caught on the token that completes it, even when it spans tokens, and
    never on a token that does not complete it (checking only the new end of the text)."""
    text = f"exact foo{stop}bar"
    for end in range(1, len(text) + 1):  # the text grows one piece at a time, pieces of any size
        for start in range(end):
            before, piece = text[:start], text[start:end]
            if stop in before:
                continue  # that row would have stopped already
            assert _stops(before, piece, (stop,)) == (stop in before + piece), (before, piece)
    assert not _stops("exact", " foo", ("", stop)), "an empty stop string stops nothing"


async def test_missing_model_is_one_clear_error_with_the_fix() -> None:
    generator = TransformersGenerator(causal_config(Path("/nonexistent/model-dir")))
    with pytest.raises(ModelUnavailable) as first:
        await generator.generate(GenerationRequest(goal="⊢ True"))
    assert "/nonexistent/model-dir" in str(first.value) and "Fix:" in str(first.value)
    with pytest.raises(ModelUnavailable) as second:  # remembered: no second slow attempt
        await generator.generate(GenerationRequest(goal="⊢ True"))
    assert second.value is first.value


async def test_automation_candidates_respect_the_prefix() -> None:
    generator = AutomationGenerator(("rfl", "simp", "simp_all", "omega"))
    assert [c.tactic for c in await generator.generate(GenerationRequest("⊢ True", "simp"))] == [
        "simp",
        "simp_all",
    ]


def test_merge_keeps_the_best_scored_duplicate_and_never_sorry() -> None:
    merged = merge_ranked(
        [
            Candidate("simp", None, "automation"),
            Candidate("exact  h", -2.0, "model"),
            Candidate("exact h", -0.5, "model"),
            Candidate("simp", -1.0, "model"),
            Candidate("sorry", -0.1, "model"),
        ]
    )
    assert [(c.tactic, c.score) for c in merged] == [("exact h", -0.5), ("simp", -1.0)]


@pytest.mark.parametrize(
    ("tactic", "reason"),
    [
        ("exact h", None),
        ("simp only [foo, bar] at h ⊢", None),
        ("rcases h with ⟨x, hx⟩ <;> simp", None),
        ("sorry", "uses sorry"),
        ("exact (by admit)", "uses admit"),
        ("exact foo_bar", "names the theorem being proved"),
        ("exact Nat.foo_bar", None),
        ("simp\nexact h", "line separator '\\n'"),
        ("#eval IO.println 1", "command '#eval'"),
        ('exact (IO.Process.run {cmd := "sh"})', "uses IO"),
        ("run_tac do pure ()", "uses run_tac"),
        ("import Mathlib", "command keyword 'import'"),
        ("set_option maxHeartbeats 0 in simp", "command keyword 'set_option' (`set_option … in` included)"),
        ("exact (h", "unbalanced brackets"),
        ("", "empty"),
    ],
)
def test_filters(tactic: str, reason: str | None) -> None:
    assert rejection_reason(tactic, theorem_name="foo_bar") == reason


def test_context_is_cut_to_its_budget_at_a_line_start() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    tail = tail_at_line(text, 40)
    assert len(tail) <= 40 and tail.startswith("line ") and text.endswith(tail)


def test_context_format_carries_the_file_before_the_cursor() -> None:
    request = GenerationRequest(goal="⊢ p", prefix="app", context="import Mathlib\ntheorem t : p := by\n")
    prompt = FORMATS["context-state-tactic"].render(request)
    assert (
        "[CTX]\nimport Mathlib\ntheorem t : p := by\n\n[/CTX]\n[STATE]\n⊢ p\n[/STATE]\n[TAC]\napp" in prompt
    )
    assert FORMATS["context-state-tactic"].tactic_from("ly foo\n[/TAC]", request) == "apply foo"


def test_whole_proof_output_gives_the_next_tactic_at_the_cursor() -> None:
    declaration = "theorem t (n : ℕ) : n + 0 = n := by\n  induction n with\n  | zero => rfl"
    request = GenerationRequest(goal="…", prefix="", declaration=declaration)
    output = (
        "Here is the proof.\n```lean4\ntheorem t (n : ℕ) : n + 0 = n := by\n  induction n with\n"
        "  | zero => rfl\n  | succ k ih => simp\n```"
    )
    assert next_tactic_in_proof(output, request) == "| succ k ih => simp"
    assert FORMATS["chat-proof"].tactic_from("no code at all", request) is None


def test_presets_and_user_presets_resolve_with_overrides() -> None:
    assert set(BUILTIN_PRESETS) >= {"llmstep", "reprover", "llemma", "deepseek-prover", "kimina-prover"}
    reprover = Settings(preset="reprover", num_samples=3).generation()
    assert reprover is not None
    assert (reprover.backend, reprover.format.name, reprover.num_samples) == (
        "transformers-seq2seq",
        "state",
        3,
    )
    # A preset with its own template uses it unless `promptFormat` names another format.
    user_preset = {"model": "my/model", "backend": "openai", "template": "G:{goal} P:{prefix}"}
    mine = Settings(preset="mine", presets={"mine": user_preset}).generation()
    assert mine is not None
    assert (mine.model, mine.format.render(GenerationRequest("g", "p"))) == ("my/model", "G:g P:p")
    with pytest.raises(ValidationError, match="unknown preset 'nope'"):
        Settings(preset="nope")
    with pytest.raises(ValidationError, match="chat format"):
        Settings(preset="kimina-prover", backend="openai")
    with pytest.raises(ValidationError, match="chat format"):
        Settings(preset="kimina-prover", backend="transformers-seq2seq")
    with pytest.raises(ValidationError, match="completion format"):
        Settings(preset="llmstep", backend="openai-chat")
    # a local causal model takes a chat format through its own chat template
    local_chat = Settings(preset="kimina-prover", backend="transformers").generation()
    assert local_chat is not None and local_chat.format.chat


async def test_a_chat_format_on_a_local_model_without_a_chat_template_says_so(tiny_model: Path) -> None:
    config = causal_config(tiny_model, backend="transformers", promptFormat="chat-proof")
    with pytest.raises(ModelUnavailable, match="has no chat template"):
        await TransformersGenerator(config).generate(GenerationRequest(goal="⊢ True"))


def test_bad_generation_settings_are_reported_and_change_nothing() -> None:
    settings, problems = Settings.from_mapping({"preset": "does-not-exist"})
    assert settings == Settings()
    assert problems and "unknown preset 'does-not-exist'" in problems[0]


async def test_encoder_decoder_backend_forces_the_prefix_on_the_decoder(tiny_seq2seq: Path) -> None:
    """ReProver-style byte-level T5, loaded through AutoModelForSeq2SeqLM."""
    settings, problems = Settings.from_mapping(
        {"preset": "reprover", "model": str(tiny_seq2seq), "maxNewTokens": 40}
    )
    assert not problems
    config = settings.generation()
    assert config is not None and config.backend == "transformers-seq2seq"
    generator = TransformersGenerator(config)
    goal = "α : Type u_1\nr s t : Set α\n⊢ r ⊆ s → s ⊆ t → r ⊆ t"
    free = await generator.generate(GenerationRequest(goal=goal))
    assert "intro hrs hst x hxr" in [c.tactic for c in free]
    forced = await generator.generate(GenerationRequest(goal=goal, prefix="intro hrs"))
    assert forced and all(c.tactic.startswith("intro hrs") for c in forced)
    assert all(c.score is not None and c.score <= 0 for c in forced)


def test_file_context_is_cut_to_a_token_budget(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from llmstep_lsp.generation.backends.huggingface import tail_in_tokens

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    text = "".join(f"theorem t{i} : True := by\n  trivial\n" for i in range(200))
    tail = tail_in_tokens(tokenizer, text, 50)
    assert len(tokenizer(tail).input_ids) <= 50
    assert text.endswith(tail) and tail.startswith(("theorem", "  trivial"))
    assert tail_in_tokens(tokenizer, "short\n", 50) == "short\n"


async def test_samples_cut_off_at_the_token_limit_are_never_candidates(tiny_model: Path) -> None:
    """A sample that hit `maxNewTokens` before EOS or end of line is no tactic; a repetition loop has
    a high mean log-prob and once ranked above the accepted answer."""
    request = GenerationRequest(goal=MONOTONE_GOAL, prefix="exact")
    whole = await TransformersGenerator(causal_config(tiny_model, maxNewTokens=40)).generate(request)
    assert "exact h (Nat.le_succ _)" in [c.tactic for c in whole], "finished within 40 tokens"
    # One token: " h", and the model would go on (" (Nat.le_succ _)"); "exact h" passes every filter.
    cut = await TransformersGenerator(causal_config(tiny_model, maxNewTokens=1)).generate(request)
    assert "exact h" not in [c.tactic for c in cut]


def test_a_sample_ends_by_itself_at_eos_or_a_stop_string_not_at_the_limit() -> None:
    from llmstep_lsp.generation.backends.causal_sampler import _finished

    pieces = ["<eos>", "exact", " h", "\n", " (", "[/", "TAC]"]
    assert _finished([1, 2], pieces, 0, ("\n",), limit=3), "under the limit: it stopped itself"
    assert _finished([1, 2, 0], pieces, 0, ("\n",), limit=3), "EOS as the last allowed token"
    assert _finished([1, 2, 3], pieces, 0, ("\n",), limit=3), "end of line as the last allowed token"
    assert _finished([1, 5, 6], pieces, 0, ("[/TAC]",), limit=3), "a stop string split across tokens"
    assert not _finished([1, 2, 4], pieces, 0, ("\n",), limit=3), "cut off"
