"""Where the study lives, and the lock that keeps its trial budget exact.

* default: ``optuna/<study>.journal`` in the working directory, an Optuna ``JournalStorage``
  over ``JournalFileBackend`` (several processes on one machine may share it);
* ``--storage path/to/file.journal``: the same at another path;
* ``--storage postgresql://user@host/db`` (or ``mysql://``, ``sqlite:///``): ``RDBStorage``
  with a heartbeat; a trial whose worker stops beating for ``grace`` seconds is marked FAIL
  and a WAITING copy with the same parameters is queued (``RetryHeartbeatStaleTrialCallback``),
  which the next free worker runs.

``budget_lock`` serialises "count the trials, then ask for a new one" across all workers of a
study (a PostgreSQL advisory lock, a MySQL named lock, else a lock file next to the storage):
without it, workers that finish together would all start one more trial and overshoot
``n_trials``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.study import Study
from optuna.trial import FrozenTrial

from rnnstudy.config import ConfigError
from rnnstudy.tracking import mask_secrets

RDB_SCHEMES = ("postgresql", "postgres", "mysql", "sqlite")
StaleCallback = Callable[[Study, FrozenTrial], None]


@dataclass
class StudyStorage:
    storage: BaseStorage
    label: str  # masked: safe to print and log
    heartbeat: int | None  # seconds, RDB only
    lock: Callable[[], contextlib.AbstractContextManager[None]]
    grace: int = 60  # seconds without a beat before a trial's worker counts as gone
    interval: int = 10  # seconds between beats (the grid beats on a journal too)


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def open_storage(
    url: str | None,
    study: str,
    *,
    heartbeat: int = 10,
    grace: int = 60,
    on_stale: StaleCallback | None = None,
) -> StudyStorage:
    """The storage for ``url`` (None: the local journal file ``optuna/<study>.journal``).
    Bad input (name, URL, a path that cannot be created, a server that does not answer) is a
    ``ConfigError`` whose text is one line."""
    check_study_name(study)
    if heartbeat < 1 or grace <= heartbeat:
        raise ConfigError(
            f"--heartbeat/--grace: need 1 <= heartbeat < grace (got {heartbeat}, {grace})"
        )
    if url is None or _scheme(url) == "" or _scheme(url) == "file":
        path = Path(url.split("://", 1)[-1] if url else f"optuna/{study}.journal")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = JournalFileBackend(str(path.resolve()), lock_obj=FlockLock(path.resolve()))
            lockfile = path.with_name(f"{path.name}.{study}.lock")
        except (OSError, ValueError) as err:
            why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise ConfigError(f"--storage {path}: {' '.join(str(why).split())}") from None
        lock = lambda: _file_lock(lockfile)  # noqa: E731
        return StudyStorage(JournalStorage(backend), str(path), None, lock, grace, heartbeat)
    scheme = _scheme(url)
    if scheme not in RDB_SCHEMES:
        raise ConfigError(
            f"--storage: unsupported URL scheme {scheme!r} in {mask_secrets(url)};"
            " use a .journal file path or postgresql://, mysql://, sqlite:///"
        )
    storage = _rdb(with_driver(url), heartbeat, grace, on_stale)
    if scheme in ("postgresql", "postgres"):
        lock = _advisory_lock(storage, study)
    elif scheme == "mysql":
        lock = _named_lock(storage, study)
    else:
        db = url.split(":///", 1)[-1] or "optuna.db"
        lockfile = Path(f"{db}.{study}.lock")
        lock = lambda: _file_lock(lockfile)  # noqa: E731
    return StudyStorage(storage, mask_secrets(url), heartbeat, lock, grace, heartbeat)


def check_study_name(study: str) -> None:
    """A study name that is also a file-name part (the lock file beside a journal)."""
    if not study or len(study) > 200 or "/" in study or "\0" in study or study.startswith("."):
        raise ConfigError(
            f"--study {study!r}: a name of 1-200 characters, no '/', not starting with '.'"
        )


def with_driver(url: str) -> str:
    """``postgresql://`` means psycopg (v3) to SQLAlchemy 2.1; this project ships psycopg2."""
    head, rest = url.split("://", 1)
    if head in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is not None:
            return f"postgresql+psycopg2://{rest}"
    return url


def _rdb(url: str, heartbeat: int, grace: int, on_stale: StaleCallback | None) -> RDBStorage:
    """RDBStorage; retried because workers starting together race to create the tables."""
    for attempt in range(4):
        try:
            with warnings.catch_warnings():  # heartbeat_interval is "experimental" since 2.x
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs={"pool_pre_ping": True},
                    heartbeat_interval=heartbeat,
                    grace_period=grace,
                    heartbeat_stale_trial_callback=on_stale,
                )
        except Exception as err:  # sqlalchemy errors: table-creation race, server starting
            if attempt == 3:
                raise ConfigError(
                    f"--storage {mask_secrets(url)}: {mask_secrets(str(err))}"
                ) from None
            time.sleep(0.3 + 0.7 * random.random())
    raise AssertionError("unreachable")


def _key(study: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(study.encode(), digest_size=8).digest(), "big", signed=True
    )


def _advisory_lock(storage: RDBStorage, study: str):
    from sqlalchemy import text

    @contextlib.contextmanager
    def lock() -> Iterator[None]:
        with storage.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _key(study)})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(study)})

    return lock


def _named_lock(storage: RDBStorage, study: str):
    from sqlalchemy import text

    @contextlib.contextmanager
    def lock() -> Iterator[None]:
        name = f"rnnstudy-{_key(study)}"
        with storage.engine.connect() as conn:
            conn.execute(text("SELECT GET_LOCK(:n, -1)"), {"n": name})
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})

    return lock


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class FlockLock(JournalFileOpenLock):
    """The journal's write lock as an ``flock``: the kernel drops it when its process dies.

    Optuna's own file locks are lock files that a killed process leaves behind; the others
    then wait for a grace period (and forever with a relative journal path, whose symlink lock
    dangles). A sweep killed with SIGKILL mid-write must not block the next run.
    """

    def __init__(self, journal: Path) -> None:
        self._path = Path(f"{journal}.flock")
        self._fh: IO[str] | None = None
        self._mutex = threading.Lock()  # flock is per open file, not per thread

    def acquire(self) -> bool:
        self._mutex.acquire()
        try:
            fh = open(self._path, "a")  # noqa: SIM115 (held until release)
            fcntl.flock(fh, fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise
        self._fh = fh
        return True

    def release(self) -> None:
        fh, self._fh = self._fh, None
        try:
            if fh is not None:
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
        finally:
            self._mutex.release()


class Heartbeat:
    """Records the trial's heartbeat now and every ``interval`` seconds until closed."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: int | None) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if interval is None or not isinstance(storage, RDBStorage):
            return
        storage.record_heartbeat(trial_id)

        def beat() -> None:
            while not self._stop.wait(interval):
                with contextlib.suppress(Exception):  # a missed beat is retried next interval
                    storage.record_heartbeat(trial_id)

        self._thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
        self._thread.start()

    def __enter__(self) -> Heartbeat:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def has_heartbeat(storage: BaseStorage, trial_id: int) -> bool:
    """Whether the trial ever recorded a heartbeat (RDB; an Optuna internal table)."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    assert isinstance(storage, RDBStorage)
    with _create_scoped_session(storage.scoped_session) as session:
        return models.TrialHeartbeatModel.where_trial_id(trial_id, session) is not None


def fail_stale(study: Study) -> None:
    """Mark RUNNING trials whose heartbeat is older than the grace period FAIL (and retry)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
