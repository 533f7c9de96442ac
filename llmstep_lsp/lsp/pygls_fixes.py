"""pygls' LSP protocol with its gaps closed (pygls 2.1). The names of our own LSP extensions are
in `lsp/methods.py`; this module is only the wire-level protocol class. The gaps:

- finished notification handlers are forgotten. pygls keeps the future of every async (and
  generator) handler in `_request_futures`, under a fresh uuid for notifications, and only a
  *request's* answer removes its entry. Every `didChange` goes through such a handler, so each
  keystroke kept a future and its task alive for good: about 3 KiB a keystroke, measured in
  tests/test_edit_storm.py;
- a request pygls cannot read (a `position` that is not a position, …) is answered with an
  error; pygls only logged it, and the client waited for an answer forever;
- before `initialize`, requests are refused with ServerNotInitialized and notifications other
  than `exit` are dropped, as the LSP specification asks. pygls ran them, so a `didOpen` sent
  too early would start a Lean server with the default settings, not the client's;
- after `shutdown`, requests are answered with InvalidRequest (LSP 3.17, "Shutdown Request": "If a
  server receives requests after a shutdown request those requests should error with
  InvalidRequest"). pygls dropped them unanswered, and the client waited forever;
- a second `initialize` is refused with InvalidRequest ("The initialize request may only be sent
  once") and changes nothing. pygls ran it again: a new workspace lost every open document.
- pygls's own copies of the documents are not kept: it splits lines with `str.splitlines` (U+2028,
  U+0085, … end a line there, not in LSP), so an incremental change lands on the wrong line. The
  server mirrors documents in `llmstep_lsp.text.documents.DocumentStore` instead;
- a `didChange` whose positions lsprotocol refuses (negative, past 2^31 - 1) was dropped, and the
  copy drifted from the editor's: they are clamped first, as VS Code clamps them.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest, JsonRpcServerNotInitialized
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import RPCRequest


class LlmstepProtocol(LanguageServerProtocol):
    """pygls 2.1's `LanguageServerProtocol` with the gaps above closed (the module docstring lists
    them with their LSP 3.17 sources); the server (`lsp/server.py`) is built with it."""

    _initialize_received = False

    def handle_message(self, message: Any) -> None:
        """Forget finished handlers, answer requests after `shutdown` with InvalidRequest, else
        dispatch as pygls does."""
        # Forget finished handlers here, before this message's own handler runs, and not from a
        # done-callback: `lsp_shutdown` cancels the pending futures while iterating over them.
        for msg_id in [key for key, future in self._request_futures.items() if future.done()]:
            del self._request_futures[msg_id]
        if self._shutdown and isinstance(message, RPCRequest):
            error = JsonRpcInvalidRequest(f"'{message.method}' after 'shutdown'")
            self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Turn raw JSON into a typed message, clamping `didChange` positions first. A request pygls
        cannot read is answered with its JSON-RPC error (id null if unreadable); the
        `JsonRpcException` is then re-raised for pygls to log."""
        if isinstance(data, dict) and data.get("method") == types.TEXT_DOCUMENT_DID_CHANGE:
            _clamp_change_positions(data.get("params"))
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "method" in data and "id" in data:
                request_id = data["id"]
                if not isinstance(request_id, int | str) or isinstance(request_id, bool):
                    request_id = None  # JSON-RPC: an id that cannot be read is answered as null
                self._send_response(request_id, None, error.to_response_error())
            raise

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> None:
        if method_name == types.INITIALIZE and self._initialize_received:
            again = JsonRpcInvalidRequest("'initialize' may only be sent once")
            self._send_response(msg_id, None, again.to_response_error())
            return
        if method_name == types.INITIALIZE:
            self._initialize_received = True
        elif not self._initialize_received:
            error = JsonRpcServerNotInitialized(f"'{method_name}' before 'initialize'")
            self._send_response(msg_id, None, error.to_response_error())
            return
        super()._handle_request(msg_id, method_name, params)

    def _handle_notification(self, method_name: str, params: Any) -> None:
        if self._initialize_received or method_name == types.EXIT:
            super()._handle_notification(method_name, params)

    # The editor's documents live in the server's `DocumentStore`; pygls's built-in handlers would
    # keep a second, drifting copy (and fail on URIs it cannot turn into paths). Only the
    # server's own handlers run.

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        """Run only the server's `didOpen` handler: pygls keeps no copy of its own."""
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        """Run only the server's `didChange` handler: pygls keeps no copy of its own."""
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Any:
        """Run only the server's `didClose` handler: pygls keeps no copy of its own."""
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


_UINTEGER_MAX = 2**31 - 1  # LSP `uinteger`


def _clamp_change_positions(params: Any) -> None:
    """Bring a raw `didChange`'s range positions into LSP's `uinteger` range the way VS Code's
    `TextModel._validatePosition` treats them (`microsoft/vscode
    src/vs/editor/common/model/textModel.ts`): a line before the first is the document's start,
    a negative column the line's start; a too large value stays too large (then clamped to the
    line's or document's end by `llmstep_lsp.text.lines.offset_at`)."""
    changes = params.get("contentChanges") if isinstance(params, dict) else None
    for change in changes if isinstance(changes, list) else []:
        range_ = change.get("range") if isinstance(change, dict) else None
        for key in ("start", "end"):
            position = range_.get(key) if isinstance(range_, dict) else None
            if not isinstance(position, dict):
                continue
            line, character = position.get("line"), position.get("character")
            if not (isinstance(line, int) and isinstance(character, int)):
                continue  # not a position: refused as before
            if line < 0:
                position["line"], position["character"] = 0, 0
            else:
                position["line"] = min(line, _UINTEGER_MAX)
                position["character"] = min(max(character, 0), _UINTEGER_MAX)
