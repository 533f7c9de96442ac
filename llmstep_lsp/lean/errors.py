"""Every failure of the Lean bridge raises a subclass of `LeanError`; nothing returns error dicts.

`is_retryable` is the one place that decides "ask again after re-syncing" (ContentModified,
RequestCancelled, a crashed worker) versus a real failure, so no caller ever scores a
ContentModified as a rejected candidate.
"""

CONTENT_MODIFIED = -32801
REQUEST_CANCELLED = -32800
WORKER_EXITED = -32901
WORKER_CRASHED = -32902


class LeanError(Exception):
    """Base class of every Lean-bridge failure."""

    @property
    def is_retryable(self) -> bool:
        """Whether asking again after re-syncing may succeed; False for the base class."""
        return False


class LeanServerDied(LeanError):
    """The Lean child exited or its stream broke; pending requests fail with this."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        detail = (
            f"{message}\n--- Lean server stderr (last lines) ---\n{stderr_tail}" if stderr_tail else message
        )
        super().__init__(detail)
        self.stderr_tail = stderr_tail


class LeanTimeout(LeanError):
    """A request got no answer within its deadline (it was cancelled on the server)."""


class LeanResponseError(LeanError):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: Lean error {code}: {message}")
        self.method = method
        self.code = code
        self.message = message

    @property
    def is_retryable(self) -> bool:
        """ContentModified (-32801), RequestCancelled (-32800) and a worker that exited (-32901) or
        crashed (-32902): Lean's `Lean.JsonRpc.ErrorCode`s that say "not now", not "no"."""
        return self.code in (CONTENT_MODIFIED, REQUEST_CANCELLED, WORKER_EXITED, WORKER_CRASHED)

    @property
    def worker_crashed(self) -> bool:
        """The file's worker is dead (-32901/-32902); Lean restarts it only on the next didChange."""
        return self.code in (WORKER_EXITED, WORKER_CRASHED)


class LeanNotFound(LeanError):
    """The Lean server command is not installed / not on PATH."""


class LeanUnavailable(LeanError):
    """No start is attempted now: the server failed to start or died soon after, recently and
    repeatedly (`supervisor.RestartGate`); the message says how often and when the next try is."""
