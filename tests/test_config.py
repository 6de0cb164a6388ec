"""Config validation: a bad value fails at parse time with one line naming the field."""

import pytest

from rnnstudy.config import ConfigError, flatten, parse_run, parse_sets


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
    assert flat["task.T"] == 7 and flat["model.cell"] == "lstm" and flat["clip.mode"] == "norm"
    assert "seed" in flat and "optim.lr" in flat
