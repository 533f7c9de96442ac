"""The verifier a project session uses, chosen by the `verifier` setting."""

from __future__ import annotations

from pathlib import Path

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.lean.client import LeanClient
from llmstep_lsp.verification.repl import ReplPool, ReplVerifier
from llmstep_lsp.verification.shadows import ShadowPool
from llmstep_lsp.verification.verifier import CandidateVerifier, Verifier


def build_verifiers(
    settings: Settings, project_root: Path, lean: LeanClient
) -> tuple[Verifier, CandidateVerifier]:
    """The shadow-document verifier (goals, and whole proofs: multi-line text needs a document) and
    the one that checks next-tactic candidates (the same one, or the REPL)."""
    shadows = ShadowPool(project_root, settings.verify_concurrency)
    shadow = Verifier(lean, shadows, settings.goal_timeout_s, settings.verify_timeout_s)
    if settings.verifier == "repl" and settings.repl_command:
        pool = ReplPool(
            settings.repl_command, str(project_root), settings.repl_pool_size, settings.lean_start_timeout_s
        )
        return shadow, ReplVerifier(shadow, pool, settings.verify_timeout_s)
    return shadow, shadow
