from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from mlops_template.core.captures import CAPTURE_PREFIX
from mlops_template.core.records import PredictionRecord


def record(i: int, model: str = "bc", version: int = 1, at: str | None = None) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"p{i:04d}",
        model=model,
        version=version,
        stage="production",
        at=at or f"2026-11-22T12:00:{i % 60:02d}.{i:03d}+00:00",
        features={"x": float(i), "c": "a"},
        label="yes",
        probability=0.9,
    )


def test_recorded_predictions_come_back_newest_first(prediction_log):
    prediction_log.record([record(i) for i in range(60)])
    prediction_log.record([record(100, model="other")])
    recent = prediction_log.recent("bc", limit=50)
    assert len(recent) == 50
    assert recent[0].prediction_id == "p0059"
    assert recent[0].features == {"x": 59.0, "c": "a"}
    assert {r.model for r in recent} == {"bc"}


def test_captures_are_partitioned_by_model_version_and_date(prediction_log):
    prediction_log.record([record(1, version=1), record(2, version=2)])
    prediction_log.record([record(3, version=2, at="2026-11-23T00:00:00.000+00:00")])
    start, end = datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)
    parts = prediction_log.parts("bc", start, end)
    assert {(p.version, p.day.isoformat()) for p in parts} == {
        (1, "2026-11-22"),
        (2, "2026-11-22"),
        (2, "2026-11-23"),
    }
    assert all(
        p.key.startswith(f"{CAPTURE_PREFIX}model=bc/version={p.version}/date={p.day}/")
        for p in parts
    )


def test_a_window_holds_every_capture_between_its_bounds_and_no_other(prediction_log):
    prediction_log.record([record(i, at=f"2026-11-22T{i:02d}:30:00.000+00:00") for i in range(24)])
    prediction_log.record([record(99, at="2026-11-21T23:59:59.999+00:00")])
    start = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
    end = datetime(2026, 11, 22, 12, 30, tzinfo=UTC)
    ids = sorted(r.prediction_id for r in prediction_log.window("bc", start, end))
    assert ids == [f"p{i:04d}" for i in range(6, 12)]


def test_feedback_joins_its_prediction_by_id(prediction_log):
    prediction_log.record([record(1), record(2)])
    assert prediction_log.add_feedback("p0001", "no", model="bc") == "recorded"
    labels = {r.prediction_id: r.true_label for r in prediction_log.recent("bc")}
    assert labels == {"p0001": "no", "p0002": None}
    window = prediction_log.window(
        "bc", datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
    )
    assert {r.prediction_id: r.true_label for r in window} == labels
    assert prediction_log.feedback("bc") == {"p0001": "no"}
    assert prediction_log.feedback("other") == {}


def test_feedback_is_written_once_even_when_labels_race(prediction_log):
    """A second label for a prediction, right or wrong, changes nothing: rewriting labels would
    let anyone with feedback access drive the accuracy the retrain alarm watches."""
    prediction_log.record([record(1), record(2)])
    assert prediction_log.add_feedback("p0001", "yes", model="bc") == "recorded"
    assert prediction_log.add_feedback("p0001", "no", model="bc") == "already_labelled"
    assert prediction_log.add_feedback("p0001", "yes", model="bc") == "already_labelled"
    labels = [f"label-{i}" for i in range(8)]
    with ThreadPoolExecutor(len(labels)) as pool:
        outcomes = list(
            pool.map(lambda label: prediction_log.add_feedback("p0002", label, model="bc"), labels)
        )
    assert sorted(outcomes) == ["already_labelled"] * 7 + ["recorded"]
    stored = {p.prediction_id: p.true_label for p in prediction_log.recent("bc")}
    assert stored == {"p0001": "yes", "p0002": labels[outcomes.index("recorded")]}


def test_columns_give_a_windows_served_captures_as_arrays(prediction_log):
    shadow = record(7).model_copy(update={"prediction_id": "p0007-shadow", "stage": "shadow"})
    prediction_log.record([record(i) for i in range(5)] + [shadow, record(8, version=2)])
    start, end = datetime(2026, 11, 22, 12, 0, 1, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
    (part,) = [p for p in prediction_log.parts("bc", start, end) if p.version == 1]
    blocks = list(prediction_log.columns(part, ["x", "missing"], ["c"], start, end))
    assert sum(b.rows for b in blocks) == 4  # p0000 is before the window; the shadow is not served
    x = sorted(v for b in blocks for v in b.features["x"].tolist())
    assert x == [1.0, 2.0, 3.0, 4.0]
    assert all(v != v for b in blocks for v in b.features["missing"])  # nan: no such feature
    assert [v for b in blocks for v in b.features["c"]] == ["a"] * 4


def test_forget_deletes_the_captures_of_one_key_value_and_nothing_else(prediction_log):
    """Erasure by a key column: 3.0 captured as a float is forgotten by the text "3"; other
    rows and other models keep theirs."""
    prediction_log.record([record(i) for i in range(6)])
    prediction_log.record([record(100, model="other")])
    prediction_log.record([record(3, model="other").model_copy(update={"prediction_id": "o3"})])
    assert prediction_log.forget("bc", "x", ["3", "5"]) == 2
    left = {p.prediction_id for p in prediction_log.recent("bc")}
    assert left == {"p0000", "p0001", "p0002", "p0004"}
    assert {p.prediction_id for p in prediction_log.recent("other")} == {"p0100", "o3"}
    assert prediction_log.forget("bc", "x", ["3"]) == 0
