"""The audit's progress on stderr: a terminal user sees it move, a pipeline's log stays clean."""

from __future__ import annotations

import sys
import threading


class Progress:
    """`audited 12/300 (contoso)` on stderr, rewritten in place; only on a terminal."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled
        self.lock = threading.Lock()

    def advance(self) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done += 1
            print(f"\r\x1b[Kaudited {self.done}/{self.total}", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.enabled:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)
