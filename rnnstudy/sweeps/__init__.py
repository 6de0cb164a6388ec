"""Optuna sweeps over any config field (owned by the sweeps work)."""
