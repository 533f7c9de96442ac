"""Blocking work in a worker thread that a cancelled caller still waits for.

`asyncio.to_thread` cannot stop its thread: a cancelled `await asyncio.to_thread(...)` returns at
once while the thread runs on. A caller holding a lock around it (one model call at a time: two
`generate` loops on one model double its memory and halve each one's speed) would release the lock
while the thread still uses the model. `run_to_the_end` asks the thread to stop (an
`threading.Event` it polls at each token) and waits for it to return before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def run_to_the_end(stop: threading.Event, func: Callable[..., T], *args: object) -> T:
    """`func(*args)` in a worker thread; returns its result or raises its exception.

    Cancelled, it sets `stop` and waits until the thread returns (further cancellations while
    waiting are absorbed), then re-raises `CancelledError`: the caller's locks cover the whole
    thread run. `func` must poll `stop` often (each generated token), or the wait is as long as it.
    """
    future = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the caller was cancelled, its error is moot
        raise
