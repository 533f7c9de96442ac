"""llmstep-lsp: verified language-model next-tactic suggestions for Lean 4, as an LSP sidecar."""

__version__ = "0.1.0"
