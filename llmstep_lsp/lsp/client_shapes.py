"""Which response shapes the editor declared it can take (LSP `ClientCapabilities`).

A response must never use a shape the client did not ask for (LSP 3.17: "a server must not send a
request / property the client did not announce"): versioned `documentChanges` only with
`workspace.workspaceEdit.documentChanges`, `CodeAction` literals only with
`textDocument.codeAction.codeActionLiteralSupport` (else `Command`s), `isPreferred` only with
`isPreferredSupport`, `workspace/applyEdit` only with `workspace.applyEdit`, work-done progress only
with `window.workDoneProgress`, a diagnostics `version` only with `publishDiagnostics.versionSupport`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types


@dataclass(frozen=True)
class ClientShapes:
    """What the client takes; the defaults are what VS Code declares (all of it)."""

    document_changes: bool = True
    apply_edit: bool = True
    code_action_literals: bool = True
    is_preferred: bool = True
    work_done_progress: bool = True
    diagnostic_version: bool = True

    @classmethod
    def of(cls, capabilities: types.ClientCapabilities) -> ClientShapes:
        """The shapes `capabilities` (from `initialize`) declare; anything absent is not supported."""
        workspace = capabilities.workspace
        edit = workspace.workspace_edit if workspace else None
        document = capabilities.text_document
        action = document.code_action if document else None
        diagnostics = document.publish_diagnostics if document else None
        window = capabilities.window
        return cls(
            document_changes=bool(edit and edit.document_changes),
            apply_edit=bool(workspace and workspace.apply_edit),
            code_action_literals=bool(action and action.code_action_literal_support),
            is_preferred=bool(action and action.is_preferred_support),
            work_done_progress=bool(window and window.work_done_progress),
            diagnostic_version=bool(diagnostics and diagnostics.version_support),
        )


VSCODE_SHAPES = ClientShapes()
"""Every shape: what VS Code declares."""
