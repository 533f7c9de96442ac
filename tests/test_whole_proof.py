"""Whole-proof sampling: which sampled proofs become candidates, and the samplers' sample counts."""

from __future__ import annotations

from pathlib import Path

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.backends.huggingface import TransformersGenerator
from llmstep_lsp.generation.formats import FORMATS
from llmstep_lsp.search.whole_proof import WHOLE_PROOF_MIN_TOKENS, sample_proofs, writes_whole_proofs


class ScriptedSampler:
    def __init__(self, texts: list[tuple[str, float | None]]) -> None:
        self.texts = texts
        self.asked: list[tuple[tuple[str, ...], int]] = []

    async def sample_texts(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None]]:
        self.asked.append((stop, max_tokens))
        return self.texts


async def test_distinct_safe_proofs_best_first() -> None:
    sampler = ScriptedSampler(
        [
            ("simp\n```", -0.9),
            ("constructor\n  · exact hp\n  · exact hq\n```", -0.5),
            ("constructor\n  · exact hp\n  · exact hq", -0.2),  # the same proof, better scored
            ("constructor\n  · sorry\n  · exact hq", -0.1),  # "proves" by fiat: dropped
            ("#eval IO.println 1", -0.1),  # a command: dropped
        ]
    )
    request = GenerationRequest(goal="⊢ p ∧ q", indent="  ", theorem_name="t")
    proofs = await sample_proofs(sampler, FORMATS["lean4-code"], request, max_tokens=128)
    assert [(p.lines, p.score) for p in proofs] == [
        (("constructor", "· exact hp", "· exact hq"), -0.2),
        (("simp",), -0.9),
    ]
    # Completion formats continue to the end of the code block, with room for a whole proof.
    assert sampler.asked == [(("```",), WHOLE_PROOF_MIN_TOKENS)]


def test_only_formats_that_can_write_whole_proofs_offer_them() -> None:
    assert writes_whole_proofs(FORMATS["chat-proof"])
    assert writes_whole_proofs(FORMATS["lean4-code"])
    assert not writes_whole_proofs(FORMATS["proofstep"])
    assert not writes_whole_proofs(FORMATS["state-tactic"])


async def test_a_request_can_ask_a_local_model_for_more_samples(tiny_model: Path) -> None:
    settings, problems = Settings.from_mapping({"model": str(tiny_model), "numSamples": 2})
    assert not problems
    config = settings.generation()
    assert config is not None
    generator = TransformersGenerator(config)
    request = GenerationRequest(goal="⊢ 2 = 2", num_samples=5)
    texts = await generator.sample_texts(request, ("\n",), 16)
    assert len(texts) == 5
    assert all(isinstance(text, str) and score is not None and score <= 0 for text, score in texts)
