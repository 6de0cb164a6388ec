"""Retry MLflow client calls that hit a locked SQLite store.

SQLite serialises writers. MLflow sets ``PRAGMA busy_timeout`` per session, but a writer can
still get ``database is locked`` at once (a read transaction that upgrades to a write while
another process holds the lock does not wait). With ``rnnstudy experiment --jobs N`` several
processes write to one ``mlflow.db``, so every client call is retried with backoff on that error.
A failed SQLite transaction is rolled back whole, so retrying a call never records it twice.

``install()`` makes ``rnnstudy.tracking.client()`` hand out retrying clients (used by the
experiment command and by its worker processes); ``uninstall()`` restores the plain client.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from rnnstudy import tracking

LOCKED = ("database is locked", "database table is locked", "database schema is locked")
TRIES = 12
_plain_client = tracking.client


def is_locked(err: BaseException) -> bool:
    text = str(err).lower()
    return any(m in text for m in LOCKED)


def retry(fn: Callable[..., Any], *args: Any, tries: int = TRIES, **kwargs: Any) -> Any:
    """Call ``fn``; on a locked-database error wait (0.05 s doubling, jittered) and try again."""
    delay = 0.05
    for attempt in range(tries):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if not is_locked(err) or attempt == tries - 1:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


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
