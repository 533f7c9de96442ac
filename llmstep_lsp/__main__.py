from llmstep_lsp.cli import main

raise SystemExit(main())
