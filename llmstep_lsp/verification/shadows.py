"""Hidden shadow documents: copies of a user's file that exist only inside our Lean server.

Each slot is one URI under `<project>/.llmstep/` that is never written to disk. Slots stay open
for the life of the server, so after the first use a slot's worker already has the file's imports
loaded and only the changed proof is re-elaborated. Slots are leased from a queue, one user at a
time, which bounds how many Lean workers verification can occupy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

SHADOW_DIR = ".llmstep"


class ShadowPool:
    """`size` shadow URIs (`<project>/.llmstep/Shadow<n>.lean`), each leased to one user at a time."""

    def __init__(self, project_root: Path, size: int) -> None:
        self.uris = [(project_root / SHADOW_DIR / f"Shadow{n}.lean").as_uri() for n in range(1, size + 1)]
        self._free: asyncio.Queue[str] = asyncio.Queue()
        for uri in self.uris:
            self._free.put_nowait(uri)

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[str]:
        """A free shadow URI until the block ends; waits (untimed) while all are leased."""
        uri = await self._free.get()
        try:
            yield uri
        finally:
            self._free.put_nowait(uri)
