"""Offline evaluations run from the command line (`llmstep-lsp eval …`)."""
