"""The limits a served app enforces on every request (``python -m tfgenre.serve`` flags)."""

from __future__ import annotations

import dataclasses
import os

from tfgenre.errors import ConfigError

#: Bytes of multipart framing and form fields allowed beyond the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024


def default_workers() -> int:
    """Concurrent inferences by default: the machine's cores (at least 1)."""
    return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class ServeLimits:
    """What one server accepts.

    Attributes:
        max_upload_bytes: Largest uploaded file; a larger one is refused (413) while it
            streams in, before it is all read.
        max_seconds: Longest audio accepted (422 beyond), read from the file's header
            before it is decoded.
        workers: Inferences run at once (each in a thread of the server's pool).
        queue: Requests that may wait for a worker; beyond ``workers + queue`` requests
            in progress a request gets 503 with ``Retry-After``.
        retry_after_seconds: The ``Retry-After`` of a 503.
    """

    max_upload_bytes: int = 50 * 1024 * 1024
    max_seconds: float = 900.0
    workers: int = dataclasses.field(default_factory=default_workers)
    queue: int = -1
    retry_after_seconds: int = 2

    def __post_init__(self) -> None:
        if self.queue == -1:
            object.__setattr__(self, "queue", 2 * self.workers)
        if self.max_upload_bytes < 1:
            raise ConfigError(f"max_upload_bytes={self.max_upload_bytes} must be >= 1")
        if not self.max_seconds > 0:
            raise ConfigError(f"max_seconds={self.max_seconds} must be > 0")
        if self.workers < 1:
            raise ConfigError(f"workers={self.workers} must be >= 1")
        if self.queue < 0:
            raise ConfigError(f"queue={self.queue} must be >= 0")
        if self.retry_after_seconds < 1:
            raise ConfigError(f"retry_after_seconds={self.retry_after_seconds} must be >= 1")

    @property
    def max_in_flight(self) -> int:
        """Requests accepted at once: the running ones plus the waiting ones."""
        return self.workers + self.queue

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: the file plus the form's framing and fields."""
        return self.max_upload_bytes + FORM_OVERHEAD_BYTES
