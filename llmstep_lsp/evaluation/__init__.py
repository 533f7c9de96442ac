"""Offline evaluation of the suggestion pipeline's parts on recorded data (`llmstep-lsp eval …`)."""
