"""Restarts with memory, for any child the sidecar restarts on demand (the Lean server, REPL
processes; a managed model server would use the same gate).

A start that fails, or a process that dies within `healthy_after_s` of its start, is a failure.
The first failure allows an immediate retry (a one-off crash costs nothing); each further failure
in a row doubles the wait before the next start (`first_delay_s`, 2×, 4×, … up to `max_delay_s`).
Meanwhile a start is refused at once with the reason, so requests answer immediately instead of
each paying for a start that will fail. After `broken_after` failures in a row the child counts as
broken: the caller tells the user once (with what the child printed on stderr) and keeps its error
status until the child answers again. The gate lives as long as the object that starts the child, so
the back-off is kept across requests; it is reset by `reset` (a settings change) and by any change
to the `watched` files (`lean-toolchain`, the lakefile: the likely fix).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[int, int] | None, ...]


@dataclass(frozen=True)
class RestartPolicy:
    """Seconds and counts of the back-off (see the module docstring)."""

    first_delay_s: float = 1.0
    max_delay_s: float = 60.0
    broken_after: int = 3
    healthy_after_s: float = 10.0


class RestartGate:
    """Whether the child `what` may be started now, from its recent failures."""

    def __init__(
        self,
        what: str,
        policy: RestartPolicy | None = None,
        watched: Sequence[Path] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.policy = policy or RestartPolicy()
        self.watched = tuple(watched)
        self._clock = clock
        self.failures = 0
        """Failed or short-lived starts in a row."""
        self.last_error = ""
        """Why the last one failed, with the child's last stderr lines where there were any."""
        self._retry_at = 0.0
        self._started_at: float | None = None
        self._fingerprint: Fingerprint = ()
        self._failed_since_answer = False
        self._recovered = False

    @property
    def broken(self) -> bool:
        """`broken_after` failures in a row: the user should be told (once)."""
        return self.failures >= self.policy.broken_after

    def wait_reason(self) -> str | None:
        """None if a start may happen now; else why not, and for how long (seconds, rounded up)."""
        if self.failures and self._fingerprint != self._files_now():
            names = "/".join(p.name for p in self.watched)
            log.info("%s: %s changed, starting again at once", self.what, names)
            self.reset()
        remaining = self._retry_at - self._clock()
        if remaining <= 0:
            return None
        return (
            f"{self.what} failed {self.failures} time{'s' if self.failures != 1 else ''} in a row; "
            f"next try in {math.ceil(remaining)} s"
        )

    def started(self) -> None:
        """A start succeeded (the child answered its handshake)."""
        self._started_at = self._clock()

    def start_failed(self, error: str) -> None:
        """The start itself failed (not found, timed out, died during the handshake)."""
        self._fail(error)

    def exited(self, error: str) -> None:
        """The started child died: a failure if it lived less than `healthy_after_s`."""
        started, self._started_at = self._started_at, None
        if started is None:
            return
        if self._clock() - started < self.policy.healthy_after_s:
            self._fail(error)
        else:
            self.failures = 0  # it worked for a while: this death is not a start problem

    def answered(self) -> None:
        """The child answered a real request: whatever failed before is over (`take_recovery`)."""
        if self._failed_since_answer:
            self._failed_since_answer = False
            self._recovered = True

    def take_recovery(self) -> bool:
        """True once after the child answered again following failures."""
        recovered, self._recovered = self._recovered, False
        return recovered

    def reset(self) -> None:
        """Forget the failures: the next start happens at once (settings or project files changed)."""
        self.failures = 0
        self._retry_at = 0.0
        self._fingerprint = ()

    def _fail(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        steps = self.failures - 2  # the first failure retries at once
        delay = 0.0 if steps < 0 else min(self.policy.max_delay_s, self.policy.first_delay_s * 2**steps)
        self._retry_at = self._clock() + delay
        self._fingerprint = self._files_now()
        self._failed_since_answer = True
        log.warning(
            "%s failed (%d in a row; next start in %.0f s): %s", self.what, self.failures, delay, error
        )

    def _files_now(self) -> Fingerprint:
        return tuple(_stat(path) for path in self.watched)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
