"""The command line (`llmstep-lsp serve|suggest|prove|doctor|train|eval`): argument parsing, the
one-shot commands' console, and `doctor`. The only layer that prints to a terminal."""
