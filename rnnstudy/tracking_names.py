"""Names and values an MLflow store accepts (DESIGN §5): the store's address, the tag names,
clean metric keys and values, masked secrets. Neither mlflow nor torch is imported here, so every
module can name a tag or clean a key without loading MLflow; ``rnnstudy.tracking`` re-exports all
of it.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

DEFAULT_URI = "sqlite:///mlflow.db"
MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
PAGE = 1000  # runs per search_runs page

# tag names (DESIGN §5)
PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
COMMIT_TAG = "mlflow.source.git.commit"
KIND_TAG = "rnnstudy.kind"  # experiment | sweep, on parent runs
HASH_TAG = "config_hash"  # resolved-config hash, on child runs (rnnstudy.resume)
CHECKPOINT_TAG = "checkpoint_step"  # step of the run's checkpoint (rnnstudy.checkpoint)
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

_KEY_BAD = re.compile(r"[^/\w.\- ]")


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` (DESIGN §5)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///…`` URI, else None.

    >>> sqlite_path("sqlite:////tmp/x/mlflow.db?mode=ro")
    PosixPath('/tmp/x/mlflow.db')
    >>> sqlite_path("postgresql://u@h/db") is None
    True
    """
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :].split("?", 1)[0])


def mask_secrets(text: str) -> str:
    """Mask passwords in URLs and ``password=`` settings.

    >>> mask_secrets("postgresql://user:secret@host/db")
    'postgresql://user:***@host/db'
    >>> mask_secrets("host=h password=pw&x=1")
    'host=h password=***&x=1'
    """
    text = re.sub(r"(\w[\w+.-]*://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)
    return re.sub(r"(?i)(password=)[^&\s]+", r"\1***", text)


def clean_key(key: str) -> str:
    """A metric key MLflow accepts (``^[/\\w.\\- ]*$``): other characters become ``_``.

    >>> clean_key("val/acc_by_distance/12")
    'val/acc_by_distance/12'
    >>> clean_key("grad/param/w[0]")
    'grad/param/w_0_'
    """
    return _KEY_BAD.sub("_", key)


def clean_value(v: float) -> float:
    """A float MLflow stores portably: NaN stays NaN, ±inf becomes ±1e308.

    >>> clean_value(float("-inf")), clean_value(2)
    (-1e+308, 2.0)
    """
    v = float(v)
    if math.isinf(v):
        return math.copysign(1e308, v)
    return v
