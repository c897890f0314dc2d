from concurrent.futures import ThreadPoolExecutor

from mlops_template.core.records import PredictionRecord


def record(i: int, model: str = "bc", version: int = 1) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"p{i:04d}",
        model=model,
        version=version,
        stage="production",
        at=f"2026-11-22T12:00:{i % 60:02d}.{i:03d}+00:00",
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


def test_feedback_attaches_to_a_known_prediction_only(prediction_log):
    prediction_log.record([record(1)])
    assert prediction_log.add_feedback("p0001", "no") == "recorded"
    assert prediction_log.add_feedback("missing", "no") == "unknown"
    (only,) = prediction_log.recent("bc")
    assert only.true_label == "no"


def test_feedback_is_written_once_even_when_labels_race(prediction_log):
    """A second label for a prediction, right or wrong, changes nothing: rewriting labels would
    let anyone with feedback access drive the accuracy the retrain alarm watches."""
    prediction_log.record([record(1), record(2)])
    assert prediction_log.add_feedback("p0001", "yes") == "recorded"
    assert prediction_log.add_feedback("p0001", "no") == "already_labelled"
    assert prediction_log.add_feedback("p0001", "yes") == "already_labelled"
    labels = [f"label-{i}" for i in range(8)]
    with ThreadPoolExecutor(len(labels)) as pool:
        outcomes = list(pool.map(lambda label: prediction_log.add_feedback("p0002", label), labels))
    assert sorted(outcomes) == ["already_labelled"] * 7 + ["recorded"]
    stored = {p.prediction_id: p.true_label for p in prediction_log.recent("bc")}
    assert stored == {"p0001": "yes", "p0002": labels[outcomes.index("recorded")]}


def test_forget_deletes_the_captures_of_one_key_value_and_nothing_else(prediction_log):
    """Erasure by a key column: 3.0 captured as a float is forgotten by the text "3"; other
    rows and other models keep theirs; feedback for a forgotten prediction finds nothing."""
    prediction_log.record([record(i) for i in range(6)])
    prediction_log.record([record(100, model="other")])
    prediction_log.record([record(3, model="other").model_copy(update={"prediction_id": "o3"})])
    assert prediction_log.forget("bc", "x", ["3", "5"]) == 2
    left = {p.prediction_id for p in prediction_log.recent("bc")}
    assert left == {"p0000", "p0001", "p0002", "p0004"}
    assert prediction_log.add_feedback("p0003", "no") == "unknown"
    assert {p.prediction_id for p in prediction_log.recent("other")} == {"p0100", "o3"}
    assert prediction_log.forget("bc", "x", ["3"]) == 0
