"""`python -m llmstep_lsp`: the `llmstep-lsp` command line (`cli.main`), its exit status the process's."""

from llmstep_lsp.cli.main import main

raise SystemExit(main())
