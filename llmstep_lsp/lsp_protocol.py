"""pygls' LSP protocol with five gaps closed (pygls 2.1):

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
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest, JsonRpcServerNotInitialized
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import RPCRequest


class LlmstepProtocol(LanguageServerProtocol):
    _initialize_received = False

    def handle_message(self, message: Any) -> None:
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
