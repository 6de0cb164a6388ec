# rnnstudy — run `make help` for the targets.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXP ?= experiments/tour.yaml
PORT ?= 5000
STAMP := $(VENV)/.setup-done

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml scripts/setup.sh
	PY=$(PY) VENV=$(VENV) bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP) ## create .venv: CPU torch where there is no GPU, then rnnstudy (editable) + dev tools

experiment: $(STAMP) ## run an experiment file (EXP=experiments/tour.yaml), record it in MLflow, build its report
	MPLBACKEND=agg $(BIN)/rnnstudy experiment $(EXP) $(ARGS)

run: $(STAMP) ## one run of EXP's base config (ARGS="--set model.cell=gru")
	MPLBACKEND=agg $(BIN)/rnnstudy run $(EXP) $(ARGS)

sweep: $(STAMP) ## Optuna sweep over EXP's `sweep:` section (EXP=experiments/sweep_lstm_copy.yaml)
	MPLBACKEND=agg $(BIN)/rnnstudy sweep $(if $(filter $(EXP),experiments/tour.yaml),experiments/sweep_lstm_copy.yaml,$(EXP)) $(ARGS)

report: $(STAMP) ## HTML + PDF report for an experiment name (NAME=tour) into reports/<name>/
	MPLBACKEND=agg $(BIN)/rnnstudy report $(or $(NAME),tour) $(ARGS)

bench: $(STAMP) ## throughput/overhead benchmark vs plain PyTorch -> BENCHMARKS.md
	$(BIN)/python -m benchmarks $(ARGS)

system: ## system packages the tests use (PostgreSQL, Chromium, poppler): apt-get as root, else one line on what cannot run
	@bash scripts/setup.sh system

test: $(STAMP) system ## run the test suite (sets up .venv and the system packages first)
	MPLBACKEND=agg $(BIN)/pytest -q $(ARGS)

lint: $(STAMP) ## ruff format check + lint
	$(BIN)/ruff format --check rnnstudy tests benchmarks tools
	$(BIN)/ruff check rnnstudy tests benchmarks tools

format: $(STAMP) ## ruff format + autofix
	$(BIN)/ruff format rnnstudy tests benchmarks tools
	$(BIN)/ruff check --fix rnnstudy tests benchmarks tools

ui: $(STAMP) ## MLflow UI over the project's store, training view, on http://127.0.0.1:5000 (PORT=5001: another port)
	$(BIN)/rnnstudy ui --port $(PORT) $(ARGS)

dashboard: $(STAMP) ## optuna-dashboard on http://127.0.0.1:8080 over a sweep's storage (ARGS=optuna/<study>.journal or a postgresql:// URL)
	$(BIN)/python -m rnnstudy.sweeps.dashboard $(ARGS)

screenshots: $(STAMP) system ## docs/ui-compare.png, docs/ui-run-figure.png: a real MLflow UI over the tour in the project's store (make experiment first), headless Chromium via Playwright (tools/ui_screenshot.py)
	$(BIN)/python -m tools.ui_screenshot --experiment tour --task qa_distance --out docs/ui-compare.png
	$(BIN)/python -m tools.ui_screenshot --experiment tour --figure figures/gradient_through_time_l0.png --cell lstm --out docs/ui-run-figure.png

clean: ## remove generated files (keeps .venv and mlflow.db)
	rm -rf .pytest_cache .ruff_cache **/__pycache__ reports/*/ 

distclean: clean ## also remove .venv, mlflow.db, artifacts
	rm -rf $(VENV) mlflow.db mlruns mlartifacts

.PHONY: help setup system experiment run sweep report bench test lint format ui dashboard screenshots clean distclean
