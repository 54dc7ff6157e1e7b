"""How often failed work is tried again, and how long to wait in between: one policy for runs and report courses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from passcompass_assets.core.settings import Settings


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int  # tries at most, the first included
    backoff: timedelta  # wait after the first failure; doubled after each further one

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.retry_attempts, timedelta(seconds=settings.retry_backoff_seconds))

    def wait_after(self, failures: int) -> timedelta:
        return self.backoff * 2 ** max(0, failures - 1)
