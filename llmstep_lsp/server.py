"""LSP wiring only: each handler hands its work to the `SuggestionEngine` and publishes the result."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from llmstep_lsp import __version__
from llmstep_lsp.engine import SuggestionEngine, SuggestionSet
from llmstep_lsp.logs import configure_logging
from llmstep_lsp.protocol import STATUS_NOTIFICATION, Status
from llmstep_lsp.publish import code_actions, inline_completions
from llmstep_lsp.settings import Settings

log = logging.getLogger(__name__)

LEAN_LANGUAGE_IDS = ("lean4", "lean")  # VS Code says lean4, Neovim ≥ 0.11 says lean
_SEVERITY = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
}


class LlmstepServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("llmstep-lsp", __version__)
        self.lean_uris: set[str] = set()
        self.engine = SuggestionEngine(settings, self)

    def show(self, severity: str, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=_SEVERITY[severity], message=message))
        self.window_log_message(types.LogMessageParams(type=_SEVERITY[severity], message=message))

    def status(self, state: Status, message: str) -> None:
        self.protocol.notify(STATUS_NOTIFICATION, {"state": state.value, "message": message})

    def apply_settings(self, raw: Any) -> Settings | None:
        """The new settings if `raw` changes anything (problems are shown to the user)."""
        current = self.engine.settings
        settings, problems = Settings.from_mapping(raw if isinstance(raw, dict) else None, current)
        for problem in problems:
            self.show("warning", f"llmstep: {problem}")
        if (settings.log_level, settings.log_file) != (current.log_level, current.log_file):
            configure_logging(settings.log_level, settings.log_file)
        return None if settings == current else settings

    async def suggestions_at(self, uri: str, line: int) -> SuggestionSet | None:
        if uri not in self.lean_uris:
            return None
        document = self.workspace.get_text_document(uri)
        version = document.version or 0
        result = await self.engine.suggest(uri, version, document.source, line)
        # Never publish for text that changed while we were computing.
        return result if self.workspace.get_text_document(uri).version == version else None

    def encode_column(self, text: str, index: int) -> int:
        return int(self.workspace.position_codec.client_num_units(text[:index]))


def build_server(settings: Settings) -> LlmstepServer:
    server = LlmstepServer(settings)

    @server.feature(types.INITIALIZE)
    def initialize(ls: LlmstepServer, params: types.InitializeParams) -> None:
        if (settings := ls.apply_settings(params.initialization_options)) is not None:
            ls.engine.configure(settings)

    @server.feature(types.INITIALIZED)
    def initialized(ls: LlmstepServer, params: types.InitializedParams) -> None:
        # The first llmstep/status goes out here, not in `initialize`: the client is only ready for
        # our notifications once it has the initialize result, and its status bar needs a first state.
        ls.engine.warm_up_model()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: LlmstepServer, params: types.DidChangeConfigurationParams) -> None:
        if (settings := ls.apply_settings(params.settings)) is not None:
            await ls.engine.update_settings(settings)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: LlmstepServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        if item.language_id in LEAN_LANGUAGE_IDS or item.uri.endswith(".lean"):
            ls.lean_uris.add(item.uri)
            await ls.engine.document_opened(item.uri, item.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: LlmstepServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in ls.lean_uris:
            await ls.engine.document_changed(uri, ls.workspace.get_text_document(uri).source)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: LlmstepServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in ls.lean_uris:
            ls.lean_uris.discard(uri)
            await ls.engine.document_closed(uri)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    async def code_action(ls: LlmstepServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        only = params.context.only
        if only and not any(types.CodeActionKind.QuickFix.value.startswith(k) for k in only):
            return None
        result = await ls.suggestions_at(params.text_document.uri, params.range.start.line)
        return code_actions(result, ls.encode_column) if result else None

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: LlmstepServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        result = await ls.suggestions_at(params.text_document.uri, params.position.line)
        return inline_completions(result, ls.encode_column) if result else None

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: LlmstepServer, params: None) -> None:
        await ls.engine.shutdown()

    return server
