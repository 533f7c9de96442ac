"""Waiting for a fake REPL to be busy: its inputs announced on a FIFO (`tests/fake_repl --announce`)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path


class AnnouncedInputs:
    """Inputs as fake REPL processes receive them (`--announce FIFO`), awaited as they come: the
    event a test waits on instead of sleeping until the REPL is busy."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "inputs.fifo"
        os.mkfifo(self.path)

    async def __aenter__(self) -> AnnouncedInputs:
        read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._writer_fd = os.open(self.path, os.O_WRONLY)  # held: no end of file between writers
        self._lines = asyncio.StreamReader()
        self._transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(self._lines), os.fdopen(read_fd, "rb", buffering=0)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._transport.close()
        os.close(self._writer_fd)

    async def received(self, n: int, timeout_s: float = 60) -> None:
        """Until a REPL process has received its `n`-th input (1: its header), not yet answered."""
        async with asyncio.timeout(timeout_s):
            while json.loads(await self._lines.readline())["n"] < n:
                pass
