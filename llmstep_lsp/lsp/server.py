"""LSP wiring only: each handler hands its work to the `SuggestionEngine` and publishes the result."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import converters, types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from llmstep_lsp import __version__
from llmstep_lsp.config.settings import Settings
from llmstep_lsp.logs import configure_logging
from llmstep_lsp.lsp.client_shapes import ClientShapes
from llmstep_lsp.lsp.lifecycle import Lifecycle
from llmstep_lsp.lsp.methods import (
    APPLY_EDIT_COMMAND,
    COMPLETE_PROOF_COMMAND,
    SEARCH_PROOF_COMMAND,
    STATUS_NOTIFICATION,
    SUGGEST_COMMAND,
    SUGGEST_REQUEST,
)
from llmstep_lsp.lsp.publish import (
    code_actions,
    hint_diagnostic,
    inline_completions,
    proof_actions,
    proof_edit,
    suggestion_report,
    timed_publication,
)
from llmstep_lsp.lsp.pygls_fixes import LlmstepProtocol
from llmstep_lsp.lsp.scheduling import SuggestionScheduler
from llmstep_lsp.lsp.wire import as_change, log_apply_result, uri_and_line
from llmstep_lsp.pipeline.engine import SuggestionEngine
from llmstep_lsp.pipeline.results import ProofMode, ProofReport, Status, SuggestionSet
from llmstep_lsp.search.best_first import SearchProgress
from llmstep_lsp.text.documents import DocumentStore
from llmstep_lsp.text.encoding import as_encoding, column_of, index_of
from llmstep_lsp.text.lines import line_break_of
from llmstep_lsp.text.uris import uri_to_path

log = logging.getLogger(__name__)
_CONVERTER = converters.get_converter()
Items = TypeVar("Items")

LEAN_LANGUAGE_IDS = ("lean4", "lean")  # VS Code says lean4, Neovim ≥ 0.11 says lean
_SEVERITY = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
}


class LlmstepServer(LanguageServer):
    """The pygls server: editor state (the document store, published hints, proof tasks) and the
    `UserChannel` the engine reports through (messages, `llmstep/status`, growing results)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("llmstep-lsp", __version__, protocol_cls=LlmstepProtocol)
        self.shapes = ClientShapes()
        """The response shapes the client declared at `initialize`."""
        self.documents = DocumentStore()
        """The editor's open Lean documents, exactly (the one home of their text and versions)."""
        self.engine = SuggestionEngine(settings, self, self.documents)
        self.scheduler = SuggestionScheduler(self.engine, self.documents)
        self.hints: dict[str, types.Diagnostic] = {}  # uri -> the published hint diagnostic
        self.publication_ms: dict[str, tuple[int, int | None, float]] = {}
        """uri -> (version, point line, ms) of the latest code-action / inline-completion items built."""
        self._loading_token: str | None = None
        self.proof_tasks: dict[str, asyncio.Task[ProofReport]] = {}  # progress token -> task
        self.lifecycle = Lifecycle()

    def show(self, severity: str, message: str) -> None:
        """Tell the user (`window/showMessage`) and keep it in the editor's log (`window/logMessage`);
        `severity` is error, warning or info."""
        self.window_show_message(types.ShowMessageParams(type=_SEVERITY[severity], message=message))
        self.window_log_message(types.LogMessageParams(type=_SEVERITY[severity], message=message))

    def status(self, state: Status, message: str) -> None:
        """`llmstep/status` (see `protocol.STATUS_NOTIFICATION`), and model loading as progress."""
        problem = self.engine.problem_kind if state is Status.ERROR else None
        params = {"state": state.value, "message": message, "problem": problem}
        self.protocol.notify(STATUS_NOTIFICATION, {**params, "model": self.engine.model is not None})
        self._loading_progress(state, message)

    def _loading_progress(self, state: Status, message: str) -> None:
        """Model loading (minutes for a first download) as LSP work-done progress."""
        window = self.client_capabilities.window
        if not (window and window.work_done_progress):
            return
        if state is Status.LOADING and self._loading_token is None:
            token = self._loading_token = f"llmstep-load-{uuid.uuid4().hex[:8]}"
            self.work_done_progress.create(token)
            self.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title="llmstep", message=message, cancellable=False)
            )
        elif state is not Status.LOADING and self._loading_token is not None:
            token, self._loading_token = self._loading_token, None
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message or "model ready"))

    def apply_settings(self, raw: Any) -> Settings | None:
        """The new settings if `raw` changes anything (problems are shown to the user)."""
        current = self.engine.settings
        settings, problems = Settings.from_mapping(raw if isinstance(raw, dict) else None, current)
        for problem in problems:
            self.show("warning", f"llmstep: {problem}")
        if (settings.log_level, settings.log_file) != (current.log_level, current.log_file):
            configure_logging(settings.log_level, settings.log_file)
        return None if settings == current else settings

    def suggestions_ready(self, result: SuggestionSet) -> None:
        """Publish (or clear) the hint diagnostic for a finished or grown computation, if still current."""
        current = self.documents.is_current(result.uri, result.version)
        if not self.engine.settings.hint_diagnostic or not current:
            return
        hint = hint_diagnostic(result, self.encode_column)
        if hint is None and result.uri not in self.hints:
            return
        if hint is None:
            del self.hints[result.uri]
        else:
            self.hints[result.uri] = hint
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=result.uri,
                version=result.version if self.shapes.diagnostic_version else None,
                diagnostics=[hint] if hint else [],
            )
        )

    def clear_hint(self, uri: str) -> None:
        """Withdraw the hint diagnostic published for `uri`, if any (the lightbulb goes away)."""
        if self.hints.pop(uri, None) is not None:
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    async def suggestions_at(
        self, uri: str, line: int, settled: bool = False, invoked: bool = False
    ) -> SuggestionSet | None:
        """The suggestions at `line` of the open document that are ready in time
        (`SuggestionScheduler.request`): the final set, or with `settled` (code actions, ghost
        text) what is verified while a slower source is still awaited; `invoked`: the user asked
        explicitly and waits. None when there are none yet or the text changed meanwhile."""
        document = self.documents.get(uri)
        if document is None or uri_to_path(uri) is None:
            return None  # not an open Lean document, or one no Lean server can have (logged once)
        result = await self.scheduler.request(document, line, settled, invoked)
        # Never publish for text that changed while we were computing.
        current = result is not None and self.documents.is_current(uri, document.version)
        return result if current else None

    def start_proof(self, uri: str, line: int, mode: ProofMode) -> dict[str, Any]:
        """Start a proof search ('search') or whole-proof sampling ('whole') in the background, shown as
        cancellable work-done progress; a proof found arrives as a versioned `workspace/applyEdit`."""
        document = self.documents.get(uri)
        if document is None or uri_to_path(uri) is None:
            raise JsonRpcInvalidParams(f"{uri} is not an open Lean document with a local path")
        version = document.version
        token = f"llmstep-{mode}-{uuid.uuid4().hex[:8]}"
        window = self.client_capabilities.window
        progress = bool(window and window.work_done_progress)
        title = "llmstep: searching for a proof" if mode == "search" else "llmstep: sampling whole proofs"
        if progress:
            self.work_done_progress.create(token)
            self.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0)
            )
        iterations = self.engine.settings.search_iterations

        def report(step: SearchProgress) -> None:
            if progress:
                message = f"{step.expanded} nodes expanded, depth {step.depth}, {step.elapsed_s:.0f} s"
                percentage = min(100, step.expanded * 100 // iterations)
                self.work_done_progress.report(
                    token, types.WorkDoneProgressReport(message=message, percentage=percentage)
                )

        task = self.engine.start_proof_task(uri, version, document.text, line, mode, report)
        self.proof_tasks[token] = task
        task.add_done_callback(lambda t: self._proof_finished(token, t, progress))
        return {"token": token}

    def cancel_proof(self, token: str) -> None:
        """Cancel the proof task behind work-done progress `token` (the user pressed Cancel)."""
        task = self.proof_tasks.get(token)
        if task is not None:
            task.cancel()

    def _proof_finished(self, token: str, task: asyncio.Task[ProofReport], progress: bool) -> None:
        self.proof_tasks.pop(token, None)
        if task.cancelled():
            message = "cancelled"
        elif (error := task.exception()) is not None:
            log.error("proof task failed", exc_info=error)
            message = f"failed: {type(error).__name__}"
        else:
            report = task.result()
            document = self.documents.get(report.uri)
            newline = line_break_of(document.text) if document else "\n"
            edit = proof_edit(report, self.encode_column, self.shapes, newline)
            if edit is not None and not self.shapes.apply_edit:
                message = "proof found, but the editor cannot apply edits (workspace.applyEdit)"
            elif edit is not None and self.documents.is_current(report.uri, report.version):
                message = "proof found"
                apply = asyncio.ensure_future(
                    self.workspace_apply_edit_async(
                        types.ApplyWorkspaceEditParams(edit=edit, label="llmstep: proof")
                    )
                )
                apply.add_done_callback(log_apply_result)
            elif edit is not None:
                message = "proof found, but the document changed meanwhile"
            else:
                message = f"no proof: {report.note}"
                self.show("info", f"llmstep: {message}")
        if progress:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    def published(self, result: SuggestionSet, build: Callable[[], Items]) -> Items:
        """`build()`, its time kept as the latest publication's for `result`'s document."""
        items, ms = timed_publication(build)
        line = result.point.line if result.point else None
        self.publication_ms[result.uri] = (result.version, line, ms)
        return items

    def report(self, result: SuggestionSet) -> dict[str, Any]:
        """`suggestion_report` with the latest publication time at that point, if there was one."""
        version, line, ms = self.publication_ms.get(result.uri, (None, None, None))
        here = version == result.version and line == (result.point.line if result.point else None)
        return suggestion_report(result, ms if here else None)

    def encode_column(self, text: str, index: int) -> int:
        """Column of code-point `index` of the line `text` in the client's position encoding."""
        return column_of(text, index, self.documents.encoding)


def build_server(settings: Settings) -> LlmstepServer:
    """The server with every LSP handler registered; each hands its work to the engine or the
    scheduler and publishes what comes back (pygls's `@feature` registry)."""
    server = LlmstepServer(settings)

    @server.feature(types.INITIALIZE)
    def initialize(ls: LlmstepServer, params: types.InitializeParams) -> None:
        ls.lifecycle.watch_client(params.process_id)
        # pygls negotiated the encoding (the client's first preference it supports, else UTF-16)
        # and announces it; every column we read or write is in it.
        ls.documents.encoding = as_encoding(ls.workspace.position_encoding)
        ls.shapes = ClientShapes.of(params.capabilities)
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
            # Mirrored before the first `await`: handlers start in arrival order, so each change
            # applies to the text the editor changed.
            ls.documents.open(item.uri, item.version, item.text)
            if uri_to_path(item.uri) is not None:
                await ls.engine.document_opened(item.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def didas_change(ls: LlmstepServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        document = ls.documents.change(
            uri, params.text_document.version, map(as_change, params.content_changes)
        )
        if document is not None and uri_to_path(uri) is not None:
            ls.clear_hint(uri)
            await ls.engine.document_changed(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: LlmstepServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in ls.documents:
            ls.clear_hint(uri)
            ls.documents.close(uri)
            ls.scheduler.forget(uri)
            await ls.engine.document_closed(uri)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    async def code_action(
        ls: LlmstepServer, params: types.CodeActionParams
    ) -> list[types.CodeAction | types.Command] | None:
        only = params.context.only
        if only and not any(types.CodeActionKind.QuickFix.value.startswith(k) for k in only):
            return None
        # Ctrl+. (Invoked) waits for a verified result; VS Code's lightbulb asks Automatic ones.
        invoked = params.context.trigger_kind == types.CodeActionTriggerKind.Invoked
        result = await ls.suggestions_at(params.text_document.uri, params.range.start.line, True, invoked)
        if result is None:
            return None
        hint = ls.hints.get(result.uri)
        actions = ls.published(result, lambda: code_actions(result, ls.encode_column, hint, ls.shapes))
        return actions + proof_actions(result, ls.engine.whole_proofs_available, ls.shapes)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: LlmstepServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        result = await ls.suggestions_at(params.text_document.uri, params.position.line, True, invoked)
        if result is None:
            return None
        cursor = None
        if result.point is not None and result.point.line == params.position.line:
            cursor = index_of(result.point.line_text, params.position.character, ls.documents.encoding)
        return ls.published(result, lambda: inline_completions(result, ls.encode_column, cursor))

    @server.command(SUGGEST_COMMAND)
    async def suggest_command(ls: LlmstepServer, *arguments: Any) -> dict[str, Any] | None:
        uri, line = uri_and_line(arguments, SUGGEST_COMMAND)
        result = await ls.suggestions_at(uri, line)
        return ls.report(result) if result else None

    @server.command(APPLY_EDIT_COMMAND)
    async def apply_edit_command(ls: LlmstepServer, *arguments: Any) -> None:
        try:
            edit = _CONVERTER.structure(arguments[0], types.WorkspaceEdit)
        except Exception as err:  # whatever the client sent back is not our edit
            raise JsonRpcInvalidParams(f"{APPLY_EDIT_COMMAND} takes [WorkspaceEdit]: {err}") from err
        # Answered once the editor has answered: the command is done when the edit is.
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label="llmstep")
        )
        if not result.applied:
            log.info("the editor refused a suggestion's edit: %s", result.failure_reason)

    @server.command(SEARCH_PROOF_COMMAND)
    def search_proof_command(ls: LlmstepServer, *arguments: Any) -> dict[str, Any]:
        uri, line = uri_and_line(arguments, SEARCH_PROOF_COMMAND)
        return ls.start_proof(uri, line, "search")

    @server.command(COMPLETE_PROOF_COMMAND)
    def complete_proof_command(ls: LlmstepServer, *arguments: Any) -> dict[str, Any]:
        uri, line = uri_and_line(arguments, COMPLETE_PROOF_COMMAND)
        return ls.start_proof(uri, line, "whole")

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def progress_cancel(ls: LlmstepServer, params: types.WorkDoneProgressCancelParams) -> None:
        ls.cancel_proof(str(params.token))

    @server.feature(SUGGEST_REQUEST)
    async def suggest_request(ls: LlmstepServer, params: Any) -> dict[str, Any] | None:
        result = await ls.suggestions_at(params.textDocument.uri, params.position.line)
        return ls.report(result) if result else None

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: LlmstepServer, params: None) -> None:
        ls.lifecycle.shutdown_received = True
        await ls.engine.shutdown()
        if ls.engine.model is not None:  # a llama.cpp server it started
            await ls.engine.model.close()

    @server.feature(types.EXIT)
    def exit(ls: LlmstepServer, params: None) -> None:
        ls.lifecycle.terminate(ls.lifecycle.exit_code, "the editor sent 'exit'")

    return server
