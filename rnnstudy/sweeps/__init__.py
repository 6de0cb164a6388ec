"""Optuna sweeps over any config field (``rnnstudy sweep FILE``; see ``sweeps/cli.py``).

space.py       the ``sweep:`` section model          plan.py       validation + trial configs
samplers.py    TPE/random (seeded per trial), pruners storage.py   journal / RDB, locks, heartbeat
pruning.py     Lightning callback -> trial.report     objective.py  one trial via ``run_one``
study.py       the worker loop, exact trial budget    recovery.py   dead workers: FAIL + retry
importances.py PED-ANOVA + fANOVA                     records.py    the MLflow parent run
"""
