"""Config validation: a bad value fails at parse time with one line naming the field."""

import pytest

from rnnstudy.config import ConfigError, flatten, parse_run, parse_sets
from rnnstudy.tasks import CORE_TASKS, TASK_NAMES


def test_defaults_parse():
    cfg = parse_run({})
    assert cfg.model.cell == "lstm" and cfg.task.name == "copy"


@pytest.mark.parametrize(
    "data,needle",
    [
        ({"model": {"cell": "transformer"}}, "model.cell: Input should be 'rnn', 'lstm' or 'gru'"),
        ({"task": {"name": "sorting"}}, "task.name: unknown task 'sorting'; allowed: copy"),
        ({"task": {"name": "copy", "T": -3}}, "task.T: Input should be greater than 0"),
        ({"task": {"name": "copy", "A": 1}}, "task.A: Input should be greater than or equal to 2"),
        ({"model": {"hidden_size": 0}}, "model.hidden_size"),
        ({"model": {"hidden_size": "big"}}, "model.hidden_size: Input should be a valid integer"),
        ({"model": {"colour": "red"}}, "model.colour: unknown field"),
        ({"clip": {"mode": "sometimes"}}, "clip.mode"),
        ({"task": {"name": "delayed_recall", "D": 30, "L": 40}}, "task.L must be >= 2*D"),
        (
            {"task": {"name": "qa_distance", "d_min": 20, "d_max": 10}},
            "task.d_max must be >= d_min",
        ),
        ({"task": {"name": "copy"}, "model": {"bidirectional": True}}, "many-to-one"),
    ],
)
def test_bad_values_one_line(data, needle):
    with pytest.raises(ConfigError) as e:
        parse_run(data)
    msg = str(e.value)
    assert needle in msg
    assert "\n" not in msg


def test_sets_are_typed():
    s = parse_sets(["optim.lr=1e-3", "train.tbptt=none", "model.bidirectional=true", "seed=3"])
    assert s == {"optim.lr": 1e-3, "train.tbptt": None, "model.bidirectional": True, "seed": 3}
    with pytest.raises(ConfigError):
        parse_sets(["model.cell"])


def test_flatten_uses_dots():
    flat = flatten(parse_run({"task": {"name": "copy", "T": 7}}).model_dump())
    assert (
        flat["task.T"] == 7
        and flat["task.d_min"] == flat["task.d_max"] == 10
        and flat["model.cell"] == "lstm"
        and flat["clip.mode"] == "norm"
    )
    assert "seed" in flat and "optim.lr" in flat


@pytest.mark.parametrize(
    "text,line,col",
    [
        ("name: x\nbase:\n  task: {name: copy, A: 4\n  model: {cell: rnn}\n", 4, 8),
        ("name: x\nbase:\n  grid: [1, 2\n", 4, 1),
        ("name: x\n  bad: indent\n", 2, 6),
    ],
)
def test_defect6_malformed_yaml_one_line_exit_2(tmp_path, store, capsys, text, line, col):
    """A YAML syntax error used to print a traceback and exit 1."""
    from pathlib import Path

    from rnnstudy.cli import main

    f = tmp_path / "bad.yaml"
    f.write_text(text)
    for cmd in ("run", "experiment", "sweep"):
        assert main([cmd, str(f)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"{f}:{line}:{col}: invalid YAML" in err
    assert not Path(store.removeprefix("sqlite:///")).exists()  # nothing written to MLflow


def test_task_facts_live_on_the_config():
    """Each task's metric, threshold, chance and memoryless loss, torch-free (DESIGN §2)."""
    import math

    from rnnstudy import config as c

    facts = [
        (c.CopyTask(A=8, K=3, d_min=4, d_max=20), "val/acc", 0.99, 1 / 8, 3 * math.log(8) / 15),
        (c.DelayedRecallTask(A=8), "val/acc", 0.99, 1 / 8, math.log(8)),
        (c.QADistanceTask(n_values=5), "val/acc", 0.95, 1 / 5, math.log(5)),
        (c.AddingTask(), "val/mse", 0.001767, 1 / 6, 1 / 6),
        (c.TemporalOrderTask(), "val/acc", 0.99, 0.25, math.log(4)),
        (c.CharLMTask(), "val/bpc", None, math.log2(5), math.log(5)),
        (c.CopyBaiTask(), "val/acc", 0.99, 1 / 8, 10 * math.log(8) / 1020),
    ]
    assert sorted(f[0].name for f in facts) == sorted(TASK_NAMES)  # every registered task
    for cfg, metric, threshold, chance, loss in facts:
        assert cfg.metric == metric
        assert cfg.solved_threshold == (threshold and pytest.approx(threshold))
        assert cfg.chance_metric == pytest.approx(chance, rel=1e-12)
        assert cfg.memoryless_loss == pytest.approx(loss, rel=1e-12)
    distances = [f[0].name for f in facts if f[0].has_distances]
    assert distances == list(CORE_TASKS)
    assert not c.DelayedRecallTask(D=3, L=8).has_distances
    assert c.AddingTask().solved({"val/mse": 0.0017}) and not c.AddingTask().solved({})
    assert not c.CharLMTask().solved({"val/bpc": 0.0})


def test_core_task_ranges_checked():
    bad = [
        ({"name": "copy", "K": 3, "d_min": 3}, "task.d_min must be >= 4"),
        ({"name": "delayed_recall", "d_min": 5, "d_max": 40, "d_start": 50}, "task.d_start"),
        ({"name": "qa_distance", "grow_factor": 1.0}, "task.grow_factor"),
        ({"name": "delayed_recall", "mode": "cue", "L": 30}, "mode: stream"),
    ]
    for task, needle in bad:
        with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
            parse_run({"task": task})
    assert parse_run({"task": {"name": "copy", "T": 5, "K": 2}}).task.d_max == 7


# Regression (issue 21.6): the bidirectional rule was keyed on the task's name, refusing the
# many-to-one cue form of delayed_recall and accepting the per-step copy_bai. It is decided by
# the task's readout, a fact of its config, which the torch task reads too.
@pytest.mark.parametrize(
    "task,many_to_one",
    [
        ({"name": "delayed_recall"}, True),  # cue form: one answer at the last step
        ({"name": "delayed_recall", "mode": "stream"}, False),
        ({"name": "qa_distance"}, True),
        ({"name": "adding"}, True),
        ({"name": "temporal_order"}, True),
        ({"name": "copy"}, False),
        ({"name": "copy_bai", "T": 20, "K": 3}, False),
        ({"name": "charlm"}, False),
    ],
)
def test_bidirectional_decided_by_readout(task, many_to_one):
    from rnnstudy.tasks import build_task

    cfg = parse_run({"task": task})
    assert (cfg.task.readout == "last") is many_to_one
    assert build_task(cfg.task).readout == cfg.task.readout
    data = {"task": task, "model": {"bidirectional": True}}
    if many_to_one:
        assert parse_run(data).model.bidirectional
    else:
        with pytest.raises(ConfigError, match="many-to-one"):
            parse_run(data)
