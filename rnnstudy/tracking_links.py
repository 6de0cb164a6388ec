"""Links to the MLflow UI (``rnnstudy ui``, ``make ui``): every link the harness prints or
writes is made here, and all carry ``?workflowType=machine_learning`` (MLflow 3.17 otherwise opens
its GenAI pages). Re-exported by ``rnnstudy.tracking``; no mlflow import.
"""

from __future__ import annotations

import sys
import urllib.parse

from rnnstudy.tracking_names import mask_secrets, tracking_uri

UI_HOST = "127.0.0.1"
UI_PORT = 5000
ML_VIEW = {"workflowType": "machine_learning"}  # the "Model training" view, not GenAI


def ui_command(uri: str | None = None, port: int = UI_PORT, workers: int | None = None) -> list:
    """The command that serves the MLflow UI over ``uri`` on 127.0.0.1:``port``: MLflow of
    this interpreter (``python -m mlflow``), so it works with no virtual environment activated
    (a bare ``mlflow`` is looked up on PATH)."""
    cmd = [sys.executable, "-m", "mlflow", "ui", "--host", UI_HOST, "--port", str(port)]
    cmd += ["--backend-store-uri", uri or tracking_uri()]
    return cmd + (["--workers", str(workers)] if workers else [])


def ui_base(uri: str | None = None, port: int = UI_PORT) -> str:
    """Where the MLflow UI over the store is: a tracking server's own address (password
    masked), else ``rnnstudy ui``'s ``http://127.0.0.1:<port>``.

    >>> ui_base("http://u:pw@mlflow-host:5000/")
    'http://u:***@mlflow-host:5000'
    >>> ui_base("sqlite:///mlflow.db")
    'http://127.0.0.1:5000'
    """
    uri = uri or tracking_uri()
    if uri.startswith(("http://", "https://")):
        return mask_secrets(uri).rstrip("/")
    return local_ui(port)


def local_ui(port: int = UI_PORT) -> str:
    """The address ``rnnstudy ui --port <port>`` serves on."""
    return f"http://{UI_HOST}:{port}"


def ui_url(route: str = "experiments", base: str | None = None, **query: str) -> str:
    """A link into the MLflow UI (``#/<route>``) in the Model-training view: every link the
    harness prints or writes is made here.

    >>> ui_url(base="http://127.0.0.1:5000")
    'http://127.0.0.1:5000/#/experiments?workflowType=machine_learning'
    """
    q = urllib.parse.urlencode({**ML_VIEW, **query})
    return f"{base or ui_base()}/#/{route.strip('/')}?{q}"


def experiment_url(exp_id: str, base: str | None = None, **query: str) -> str:
    """The experiment's runs in the MLflow UI."""
    return ui_url(f"experiments/{exp_id}/runs", base, **query)


def run_url(exp_id: str, run_id: str, tab: str = "", base: str | None = None) -> str:
    """One run (a parent run too) in the MLflow UI; ``tab``: e.g. ``artifacts``.

    >>> run_url("3", "ab12", base="http://127.0.0.1:5000")
    'http://127.0.0.1:5000/#/experiments/3/runs/ab12?workflowType=machine_learning'
    """
    return ui_url(f"experiments/{exp_id}/runs/{run_id}/{tab}", base)
