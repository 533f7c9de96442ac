"""Names of llmstep-lsp's own LSP extensions, in one place (the VS Code extension mirrors them).

Only names (the status enum is `pipeline/results.py`); pygls' protocol class is `pygls_fixes.py`.
"""

from __future__ import annotations

SUGGEST_COMMAND = "llmstep.suggest"
"""workspace/executeCommand, arguments `[uri, line]` (0-based line): the structured suggestion report."""
SUGGEST_REQUEST = "$/llmstep/suggest"
"""Request with `TextDocumentPositionParams`: the same report, for clients that want a panel."""
SEARCH_PROOF_COMMAND = "llmstep.searchProof"
"""workspace/executeCommand, arguments `[uri, line]`: start a proof search in the background (work-done
progress, cancellable); a found proof arrives as `workspace/applyEdit`. Returns `{"token": …}`."""
COMPLETE_PROOF_COMMAND = "llmstep.completeProof"
"""The same for whole-proof mode: sample complete proofs, apply the best one Lean accepts."""
APPLY_EDIT_COMMAND = "llmstep.applyEdit"
"""workspace/executeCommand, arguments `[WorkspaceEdit]`: a suggestion offered as a `Command` to a
client without code-action literals; the server sends the edit back as `workspace/applyEdit`."""
STATUS_NOTIFICATION = "llmstep/status"
"""Server → client notification `{"state": Status, "message": str, "problem": str | None, "model":
bool}` (`Status` is in `pipeline/results.py`): drives the status-bar item. `problem` says what
an `error` is about ("lean", "model" or "verifier"; suggestions without the model still work
during a "model" one), `model` whether a model is configured (`ready` without one: only the
model-free tactics are tried)."""
