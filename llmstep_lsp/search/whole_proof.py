"""Whole-proof mode (DeepSeek-Prover, Kimina-Prover style): sample K complete proofs, keep the ones
Lean accepts.

A completion format (`lean4-code`, …) continues the file at the point, so its output, read until
the end of the code block or the first line that leaves the proof's block, *is* the rest of the
proof. A chat format (`chat-proof`) answers with the whole declaration; the proof is what follows
`by`, minus the tactic lines the user already wrote. Every line must pass the same filter as a
single tactic (no `sorry`, no commands). A proof is accepted when Lean reports no error on its
lines and a `sorry` placed after it fails with "no goals": nothing is left to prove, and
`#print axioms` confirms it uses no `sorry` (`verification/soundness.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from llmstep_lsp.generation.base import GenerationRequest
from llmstep_lsp.generation.filters import rejection_reason
from llmstep_lsp.generation.formats import PromptFormat, unwritten_proof_lines
from llmstep_lsp.text.suggestion_point import SuggestionPoint, candidate_probe_text
from llmstep_lsp.verification.soundness import SorryCheck
from llmstep_lsp.verification.verifier import Verifier, through_declaration

WHOLE_PROOF_MIN_TOKENS = 1024
"""A line-by-line preset's token limit (128) is too short for a whole proof."""


class ProofSampler(Protocol):
    """A backend that can sample raw completions (the model backends, not automation)."""

    async def sample_texts(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None]]:
        """Raw completions of the request's prompt, each with its mean token log-prob (None where
        the backend has none), cut at any of `stop`, at most `max_tokens` tokens each. Raises
        `ModelUnavailable` (or a backend's subclass) when the model cannot be used."""


@dataclass(frozen=True)
class WholeProof:
    """One sampled complete proof, filtered, not yet checked by Lean."""

    lines: tuple[str, ...]
    """The proof, relative to the point (see `search/proof.py`)."""
    score: float | None
    """The sample's mean token log-prob (None where the backend gives none)."""


async def sample_proofs(
    sampler: ProofSampler, prompt_format: PromptFormat, request: GenerationRequest, max_tokens: int
) -> list[WholeProof]:
    """Distinct, filtered candidate proofs, best mean log-prob first."""
    stop = () if prompt_format.chat else ("```",)
    texts = await sampler.sample_texts(request, stop, max(max_tokens, WHOLE_PROOF_MIN_TOKENS))
    best: dict[tuple[str, ...], float | None] = {}
    for text, score in texts:
        lines = proof_from_output(text, prompt_format, request)
        if lines is None or any(rejection_reason(line.strip(), request.theorem_name) for line in lines):
            continue
        kept = best.get(lines)
        if lines not in best or (score is not None and (kept is None or score > kept)):
            best[lines] = score
    ranked = sorted(best.items(), key=lambda item: -(item[1] if item[1] is not None else -1e9))
    return [WholeProof(lines, score) for lines, score in ranked]


def writes_whole_proofs(prompt_format: PromptFormat) -> bool:
    """Whether a format can yield whole proofs: a proof format, or a completion format that
    continues the file at the point (`lean4-code`), where lifting the end-of-line stop does it."""
    return prompt_format.output == "proof" or (
        not prompt_format.chat and prompt_format.template.endswith("{context}{indent}{prefix}")
    )


def proof_from_output(
    output: str, prompt_format: PromptFormat, request: GenerationRequest
) -> tuple[str, ...] | None:
    """The rest of the proof in a model's output, relative to the point; None if there is none."""
    if prompt_format.output == "proof":
        body = unwritten_proof_lines(output, request.declaration)
        if not body:
            return None
        width = _indent_width(body[0])
        first, rest = body[0].strip(), body[1:]
    else:
        text = (request.prefix + output).split("```", 1)[0]
        first, *rest = text.split("\n")
        first = first.strip()
        width = len(request.indent)
    if not first or not first.startswith(request.prefix):
        return None
    proof = [first]
    for line in rest:
        if not _is_tactic_line(line):
            continue
        if _indent_width(line) < width:
            break  # the proof's block ended (the next declaration, an outer bullet)
        proof.append(line[width:].rstrip())
    return tuple(proof)


async def check_whole_proof(
    verifier: Verifier, lines: list[str], point: SuggestionPoint, proof: tuple[str, ...]
) -> bool:
    """Whether Lean accepts `proof` at the point as complete (False, too, when Lean gives no answer)."""
    joined = "\n".join([proof[0], *(point.continuation + line for line in proof[1:])])
    probe = candidate_probe_text(through_declaration(lines, point), point, joined)
    sorry_line = point.line + len(proof)
    diagnostics = await verifier.probe_diagnostics(probe)
    if diagnostics is None:
        return False
    closed = False
    for diagnostic in diagnostics:
        if not diagnostic.is_error:
            continue
        line = diagnostic.start[0]
        if line == sorry_line and diagnostic.message.lower().startswith("no goals"):
            closed = True
        elif point.line <= line <= sorry_line:
            return False
    return closed and (await confirm_sorry_free(verifier, lines, point, proof)).sorry_free is True


async def confirm_sorry_free(
    verifier: Verifier, lines: list[str], point: SuggestionPoint, proof: tuple[str, ...]
) -> SorryCheck:
    """Lean's `#print axioms` verdict on a complete proof at the point (`verification/soundness.py`):
    what guards a found or sampled proof before it is written to the editor."""
    joined = "\n".join([proof[0], *(point.continuation + line for line in proof[1:])])
    return await verifier.sorry_check(lines, point, joined)


def _is_tactic_line(line: str) -> bool:
    return bool(line.strip()) and not line.strip().startswith("--")


def _indent_width(text: str) -> int:
    return len(text) - len(text.lstrip())
