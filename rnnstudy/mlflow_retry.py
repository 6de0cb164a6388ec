"""Retrying MLflow clients for a locked SQLite store.

With ``rnnstudy experiment --jobs N`` several processes write to one ``mlflow.db``, so every client
call is retried with backoff on a locked-database error (``retry``, in ``rnnstudy.tracking_sqlite``,
re-exported here; the reason is told there).

``install()`` makes ``rnnstudy.tracking.client()`` hand out retrying clients (used by the
experiment command and by its worker processes); ``uninstall()`` restores the plain client.
"""

from __future__ import annotations

from typing import Any

from rnnstudy import tracking
from rnnstudy.tracking_sqlite import LOCKED, TRIES, is_locked, retry

__all__ = [
    "LOCKED",
    "TRIES",
    "RetryingClient",
    "client",
    "install",
    "is_locked",
    "retry",
    "uninstall",
]

_plain_client = tracking.client


class RetryingClient:
    """A ``tracking.Client`` whose every method retries on a locked SQLite database."""

    def __init__(self, inner: tracking.Client):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return retry(attr, *args, **kwargs)

        return call


def client(uri: str | None = None) -> RetryingClient:
    return RetryingClient(_plain_client(uri))


def install() -> None:
    tracking.client = client


def uninstall() -> None:
    tracking.client = _plain_client
