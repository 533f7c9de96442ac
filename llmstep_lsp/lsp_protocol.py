"""pygls' LSP protocol with one leak fixed: finished notification handlers are forgotten.

pygls 2.1 keeps the future of every async (and generator) handler in `_request_futures` under a
fresh uuid for notifications, and only a *request's* answer removes its entry. Every `didChange`
goes through such a handler, so an edit storm of N keystrokes kept N futures (and their tasks)
alive for good: about 3 KiB per keystroke, measured in tests/test_edit_storm.py.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from pygls.protocol import LanguageServerProtocol


class LeakFreeProtocol(LanguageServerProtocol):
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
