"""The distance schedule (DESIGN §2.1, ``task.curriculum: grow``) and the horizon tag."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rnnstudy import config
from rnnstudy.config import parse_run
from rnnstudy.curriculum import DistanceSchedule, HorizonTag, next_upper, task_callbacks
from rnnstudy.data import TaskData
from rnnstudy.runner import run_one
from rnnstudy.tasks import build_task


def test_next_upper():
    assert next_upper(10, 1.5, 40) == 15
    assert next_upper(15, 1.5, 40) == 23  # ceil(22.5)
    assert next_upper(35, 1.5, 40) == 40  # never beyond d_max
    assert next_upper(2, 1.1, 40) == 3  # always at least one step wider
    assert next_upper(40, 1.5, 40) == 40


class FakeModule:
    """Validation accuracy = 1 on distances <= ``reach``, 0 beyond (a known horizon)."""

    def __init__(self, reach: int):
        self.reach, self.diverged, self.val_metrics = reach, False, {}
        self.calls: list[int] = []

    def evaluate_batch(self, batch):
        d = batch.meta["distance"]
        self.calls.append(int(d.max()))
        return {"val/acc": float((d <= self.reach).float().mean())}

    def validate(self, data):  # what the module's own validation records (the whole range)
        self.val_metrics = self.evaluate_batch(data.val)
        self.calls.pop()


class FakeTrainer:
    def __init__(self):
        self.sanity_checking, self.global_step, self.logged = False, 0, []
        self.logger = SimpleNamespace(log_metrics=lambda m, step: self.logged.append((step, m)))


def schedule(reach: int, **kw):
    cfg = config.DelayedRecallTask(d_min=2, d_max=40, curriculum="grow", d_start=10, **kw)
    task = build_task(cfg)
    data = TaskData(task, 0, 8, 2048)
    return DistanceSchedule(task, data), data, FakeModule(reach), FakeTrainer()


def test_grow_widens_only_after_a_solved_validation_and_stops_at_the_horizon():
    cb, data, module, trainer = schedule(reach=25)
    assert data.d_range == (2, 10)
    cb.on_train_start(trainer, module)
    ranges = []
    for step in range(1, 9):
        trainer.global_step = 100 * step
        module.validate(data)
        cb.on_validation_end(trainer, module)
        ranges.append(data.d_range[1])
    # solved on [2,10] -> 15 -> 23 solved; [2,35] is not (d 26..35 wrong): it stays there
    assert ranges == [15, 23, 35, 35, 35, 35, 35, 35]
    assert module.calls[:3] == [10, 15, 23]  # each time measured on the current range only
    # buckets of [2, 40]: upper edges 9, 17, 25, 33, 40; solved 10 at step 100, 23 at 300;
    # 25 and beyond never reached: censored, so not logged
    assert cb.final_metrics() == {
        "final/learned_d_max": 23.0,
        "final/steps_to/9": 100.0,
        "final/steps_to/17": 300.0,
    }
    assert cb.final_tags() == {"horizon_capped": "false"}
    d_max = [m["train/d_max"] for _, m in trainer.logged if "train/d_max" in m]
    assert d_max == [10, 15, 23, 35]  # when it changes
    learned = [
        (s, m["train/learned_d_max"]) for s, m in trainer.logged if "train/learned_d_max" in m
    ]
    assert learned == [(0, 0.0), (100, 10.0), (200, 15.0), (300, 23.0)]  # the growth curve


def test_grow_never_beyond_d_max_and_capped():
    cb, data, module, trainer = schedule(reach=1000, grow_factor=3.0)
    seen = []
    for _ in range(6):
        module.val_metrics = {"val/acc": 0.5}  # the whole range never solved in one go
        cb.on_validation_end(trainer, module)
        seen.append(data.d_range[1])
    assert seen == [30, 40, 40, 40, 40, 40] and max(seen) <= 40
    assert cb.final_metrics()["final/learned_d_max"] == 40.0
    steps = {k: v for k, v in cb.final_metrics().items() if "steps_to" in k}
    assert steps == {f"final/steps_to/{d}": 0.0 for d in (9, 17, 25, 33, 40)}
    assert cb.final_tags() == {"horizon_capped": "true"}


def test_grow_unsolved_start_learns_nothing():
    cb, data, module, trainer = schedule(reach=5)
    for _ in range(3):
        module.validate(data)
        cb.on_validation_end(trainer, module)
    assert data.d_range == (2, 10) and cb.final_metrics() == {"final/learned_d_max": 0.0}
    # nothing reached: every bucket censored, no steps_to key at all


def test_grow_whole_range_solved_jumps_to_d_max():
    cb, data, module, trainer = schedule(reach=40)
    module.validate(data)
    cb.on_validation_end(trainer, module)
    assert data.d_range == (2, 40) and cb.final_metrics()["final/learned_d_max"] == 40.0


def test_task_callbacks_choice():
    def cbs(task):
        cfg = parse_run({"task": task})
        t = build_task(cfg.task)
        return [type(c) for c in task_callbacks(cfg, t, TaskData(t, 0, 4, 8))]

    assert cbs({"name": "qa_distance", "curriculum": "grow"}) == [DistanceSchedule]
    assert cbs({"name": "copy"}) == [HorizonTag]
    assert cbs({"name": "delayed_recall", "D": 3, "L": 8}) == []  # stream form: no distances
    assert cbs({"name": "adding"}) == []


@pytest.mark.parametrize("curriculum", ["none", "grow"])
def test_run_records_learned_d_max_and_tag(curriculum):
    cfg = parse_run(
        {
            "model": {"cell": "lstm", "hidden_size": 8},
            "train": {"max_steps": 6, "batch_size": 8, "val_every": 3, "val_size": 32},
            "probe": {"enabled": False},
            "task": {
                **{"name": "delayed_recall", "A": 2, "d_min": 1, "d_max": 6, "n_buckets": 2},
                **{"curriculum": curriculum, "d_start": 2},
            },
        }
    )
    r = run_one(cfg, progress=False)
    assert r.tags["horizon_capped"] in ("true", "false")
    assert "final/memory_horizon" in r.metrics and "final/acc_by_distance/6" in r.metrics
    assert ("final/learned_d_max" in r.metrics) == (curriculum == "grow")
