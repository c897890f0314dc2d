"""The obvious way to serve a scikit-learn model on Lambda, written for the benchmark only:
FastAPI + Mangum + pandas + scikit-learn, the fitted pipeline unpickled with joblib.

Never deploy this: it unpickles a file (code execution if the file is swapped), is ~370 MB
installed (over Lambda's 250 MB zip limit), and imports for seconds on every cold start."""

from __future__ import annotations

import os
from typing import Any

import joblib
import pandas as pd
from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel

PIPELINE = joblib.load(os.environ["BASELINE_MODEL_PATH"])
FEATURES = list(PIPELINE.feature_names_in_)

app = FastAPI()


class PredictRequest(BaseModel):
    records: list[dict[str, Any]]


@app.post("/predict")
def predict(body: PredictRequest) -> dict[str, Any]:
    frame = pd.DataFrame(body.records)[FEATURES].astype("float32")
    probabilities = PIPELINE.predict_proba(frame)
    labels = PIPELINE.classes_[probabilities.argmax(axis=1)]
    return {
        "predictions": [
            {"label": str(label), "probability": float(p)}
            for label, p in zip(labels, probabilities.max(axis=1), strict=True)
        ]
    }


handler = Mangum(app, lifespan="off")
