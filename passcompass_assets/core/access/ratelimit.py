"""Per-principal rate limits, in process: at most ``limit`` requests in any ``window`` seconds (a sliding log).

Each API process keeps its own counts; with several replicas a principal gets up to ``limit`` per replica.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class RateLimiter:
    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, key: str, limit: int, window: float = 60.0, now: float | None = None) -> int | None:
        """Count one request of ``key`` in ``bucket``; None when allowed, else the seconds until one would be
        (``Retry-After``). A ``limit`` of 0 or less means no limit."""
        if limit <= 0:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault((bucket, key), deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, math.ceil(hits[0] + window - now))
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle keys now and then
                for stale in [k for k, v in self._hits.items() if not v or v[-1] <= now - window]:
                    del self._hits[stale]
        return None
