"""Score records with this bundle's model: needs onnxruntime and numpy, nothing else.

    python score.py records.json            # a JSON list of records -> one answer per line
    from score import Scorer; Scorer(".").score([{"age": 59.0, ...}])

Answers match the prediction API's: {"label", "probability"} (and "probabilities" for 3+
classes) for a classifier, {"value"} (and "interval") for a regression.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

MISSING_CATEGORY = ""  # a missing text value, as the model saw it in training


class Scorer:
    def __init__(self, bundle: str | Path = ".") -> None:
        bundle = Path(bundle)
        self.card = json.loads((bundle / "model_card.json").read_text())
        self.session = ort.InferenceSession(
            str(bundle / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        meta = self.session.get_modelmeta().custom_metadata_map
        self.half_width = (
            float(meta["interval_half_width"]) if "interval_half_width" in meta else None
        )

    def columns(self, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        feed = {}
        for name, feature in zip(self.inputs, self.card["features"], strict=True):
            values = [r.get(feature["name"]) for r in records]
            if feature["kind"] == "numeric":
                column = np.array([np.nan if v is None else v for v in values], dtype=np.float32)
            else:
                column = np.array(
                    [MISSING_CATEGORY if v is None else str(v) for v in values], dtype=object
                )
            feed[name] = column.reshape(-1, 1)
        return feed

    def score(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        outputs = self.session.run(None, self.columns(records))
        if self.card["task"] == "regression":
            values = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
            answers: list[dict[str, Any]] = [{"value": float(v)} for v in values]
            if self.half_width is not None:
                for answer, v in zip(answers, values, strict=True):
                    answer["interval"] = [v - self.half_width, v + self.half_width]
            return answers
        classes = self.card["classes"]
        typed = self.card["label_values"]
        labels, probabilities = outputs[0], np.asarray(outputs[1], dtype=np.float64)
        names = [classes[int(x)] if labels.dtype.kind in "iu" else str(x) for x in labels]
        top = probabilities.max(axis=1).round(6).tolist()
        answers = [{"label": typed[n], "probability": p} for n, p in zip(names, top, strict=True)]
        if probabilities.shape[1] > 2:
            for answer, row in zip(answers, probabilities.round(6).tolist(), strict=True):
                answer["probabilities"] = dict(zip(classes, row, strict=True))
        return answers


if __name__ == "__main__":
    scorer = Scorer(Path(__file__).resolve().parent)
    for answer in scorer.score(json.loads(Path(sys.argv[1]).read_text())):
        print(json.dumps(answer))
