"""pygls' LSP protocol with two gaps closed (pygls 2.1):

- finished notification handlers are forgotten. pygls keeps the future of every async (and
  generator) handler in `_request_futures`, under a fresh uuid for notifications, and only a
  *request's* answer removes its entry. Every `didChange` goes through such a handler, so each
  keystroke kept a future and its task alive for good: about 3 KiB a keystroke, measured in
  tests/test_edit_storm.py;
- a request pygls cannot read (a `position` that is not a position, …) is answered with an
  error; pygls only logged it, and the client waited for an answer forever;
- before `initialize`, requests are refused with ServerNotInitialized and notifications other
  than `exit` are dropped, as the LSP specification asks. pygls ran them, so a `didOpen` sent
  too early would start a Lean server with the default settings, not the client's.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcServerNotInitialized
from pygls.protocol import LanguageServerProtocol


class LlmstepProtocol(LanguageServerProtocol):
    _initialize_received = False

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

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, *args: Any, **kwargs: Any) -> None:
        super()._execute_handler(msg_id, handler, callback, *args, **kwargs)
        future = self._request_futures.get(msg_id)
        if future is None:
            return

        def forget(done: Future[Any] | Any) -> None:
            # Only this handler's own entry: a request id can be reused once it was answered.
            if self._request_futures.get(msg_id) is done:
                del self._request_futures[msg_id]

        future.add_done_callback(forget)
