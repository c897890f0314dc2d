"""The sweep file: which trials it expands to, in which order, and the errors it gives."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from mlops_template.core.sweep import TrialResult, pick_best
from mlops_template.training.config import ConfigError, ModelConfig
from mlops_template.training.sweep import load_sweep, parse_sweep

ROOT = Path(__file__).resolve().parents[2]
SEARCH = [
    {"algorithm": "random_forest", "params": {"n_estimators": [50, 100], "max_depth": [4, 8]}},
    {"algorithm": "hist_gradient_boosting", "params": {"learning_rate": [0.05, 0.1]}},
]


def test_a_grid_is_each_blocks_product_blocks_in_order():
    configs = parse_sweep({"search": SEARCH}).configs()
    assert [(c.algorithm, c.params) for c in configs] == [
        ("random_forest", {"n_estimators": 50, "max_depth": 4}),
        ("random_forest", {"n_estimators": 50, "max_depth": 8}),
        ("random_forest", {"n_estimators": 100, "max_depth": 4}),
        ("random_forest", {"n_estimators": 100, "max_depth": 8}),
        ("hist_gradient_boosting", {"learning_rate": 0.05}),
        ("hist_gradient_boosting", {"learning_rate": 0.1}),
    ]


def test_a_single_value_is_fixed_and_a_block_without_params_is_one_trial():
    spec = parse_sweep(
        {
            "search": [
                {"algorithm": "logistic_regression"},
                {"algorithm": "random_forest", "params": {"n_estimators": 10, "max_depth": [2, 3]}},
            ]
        }
    )
    assert spec.configs() == [
        ModelConfig(algorithm="logistic_regression"),
        ModelConfig(algorithm="random_forest", params={"n_estimators": 10, "max_depth": 2}),
        ModelConfig(algorithm="random_forest", params={"n_estimators": 10, "max_depth": 3}),
    ]


def test_a_random_sweep_is_a_seeded_draw_without_replacement():
    draw = parse_sweep({"method": "random", "trials": 4, "seed": 7, "search": SEARCH}).configs()
    again = parse_sweep({"method": "random", "trials": 4, "seed": 7, "search": SEARCH}).configs()
    grid = parse_sweep({"search": SEARCH}).configs()
    assert draw == again and len(draw) == 4
    assert all(c in grid for c in draw) and len({c.model_dump_json() for c in draw}) == 4
    other = parse_sweep({"method": "random", "trials": 4, "seed": 8, "search": SEARCH}).configs()
    assert other != draw  # another seed, another draw (for these two seeds)
    everything = parse_sweep({"method": "random", "search": SEARCH}).configs()
    assert sorted(c.model_dump_json() for c in everything) == sorted(
        c.model_dump_json() for c in grid
    )


def test_max_trials_keeps_the_first_ones():
    spec = parse_sweep({"search": SEARCH})
    assert spec.configs(max_trials=2) == spec.configs()[:2]


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"search": [{"algorithm": "svm"}]}, "search.0.algorithm"),
        ({"search": [{"algorithm": "random_forest", "params": {"max_depth": []}}]}, "max_depth"),
        ({"search": [{"algorithm": "random_forest", "params": {"depth": [2]}}]}, "'depth'"),
        ({"search": SEARCH, "trails": 3}, "trails: Extra inputs"),
        ({"search": [{"algorithm": "random_forest", "param": {}}]}, "search.0.param"),
        ({"search": []}, "search: List should have at least 1 item"),
        ({}, "search: Field required"),
        ({"method": "bayes", "search": SEARCH}, "method"),
        (
            {"method": "random", "trials": 7, "search": SEARCH},
            "trials: 7 is more than the grid's 6",
        ),
        ({"method": "random", "trials": 0, "search": SEARCH}, "trials"),
    ],
)
def test_a_bad_sweep_is_one_line_naming_the_field(data, named):
    with pytest.raises(ConfigError) as caught:
        parse_sweep(data, source="sweep s.toml")
    message = str(caught.value)
    assert named in message and "\n" not in message and message.startswith("sweep s.toml")


def test_a_file_that_is_not_toml_says_so(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("method = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sweep(path)


def test_the_readme_example_is_a_valid_sweep():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"A sweep file.*?```toml\n(.*?)```", readme, re.S)
    assert block, "the README shows a sweep file"
    spec = parse_sweep(tomllib.loads(block.group(1)))
    assert len(spec.configs()) == 6


def _trial(k: int, score: float | None) -> TrialResult:
    metrics = {} if score is None else {"roc_auc": score}
    return TrialResult(trial=k, run_id=f"s-t{k}", model=ModelConfig(), metrics=metrics)


def test_the_best_is_the_highest_and_a_tie_goes_to_the_earlier_trial():
    trials = [_trial(1, None), _trial(2, 0.9), _trial(3, 0.95), _trial(4, 0.95)]
    assert pick_best(trials, "roc_auc").trial == 3
    assert pick_best([_trial(1, None)], "roc_auc") is None
