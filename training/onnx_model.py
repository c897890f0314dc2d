"""Scoring an exported model with onnxruntime: numpy in, labels and probabilities out.

This is the whole of the serving path's ML: no pandas, no scikit-learn, no pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from training.schema import MISSING_CATEGORY, DatasetSchema

if TYPE_CHECKING:
    import pandas as pd


class ModelSchemaMismatch(ValueError):
    """The ONNX graph's inputs or outputs do not match the schema it was registered with."""


class OnnxClassifier:
    def __init__(self, model_bytes: bytes, schema: DatasetSchema, *, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread: Lambda gives a fraction of a core per 1.7 GB, and extra threads only add
        # scheduling jitter to small requests.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.schema = schema
        inputs = self._session.get_inputs()
        if len(inputs) != len(schema.columns):
            raise ModelSchemaMismatch(
                f"model has {len(inputs)} inputs, schema has {len(schema.columns)} features"
            )
        # skl2onnx sanitises names ("mean radius" -> "mean_radius"); the order is the schema's.
        self._input_names = [i.name for i in inputs]
        self._numeric = [c.kind == "numeric" for c in schema.columns]
        self._feature_names = schema.feature_names
        outputs = [o.name for o in self._session.get_outputs()]
        if outputs[:2] != ["label", "probabilities"]:
            raise ModelSchemaMismatch(f"model outputs are {outputs}, expected label, probabilities")
        self.classes = list(schema.target.classes)

    def predict_columns(self, columns: Sequence[np.ndarray]) -> tuple[list[str], np.ndarray]:
        """Score one array per feature (schema order). Returns labels and class probabilities."""
        feed = {
            name: np.ascontiguousarray(values).reshape(-1, 1)
            for name, values in zip(self._input_names, columns, strict=True)
        }
        labels, probabilities = self._session.run(None, feed)
        return [str(label) for label in labels], np.asarray(probabilities, dtype=np.float64)

    def columns_from_records(self, records: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
        columns: list[np.ndarray] = []
        for name, numeric in zip(self._feature_names, self._numeric, strict=True):
            if numeric:
                values = [r.get(name) for r in records]
                columns.append(
                    np.array([np.nan if v is None else v for v in values], dtype=np.float32)
                )
            else:
                columns.append(
                    np.array(
                        [
                            MISSING_CATEGORY if (v := r.get(name)) is None else str(v)
                            for r in records
                        ],
                        dtype=object,
                    )
                )
        return columns

    def columns_from_frame(self, frame: pd.DataFrame) -> list[np.ndarray]:
        from training.features import model_inputs

        inputs = model_inputs(frame, self.schema)
        return [
            inputs[name].to_numpy(dtype=np.float32 if numeric else object)
            for name, numeric in zip(self._feature_names, self._numeric, strict=True)
        ]

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> tuple[list[str], np.ndarray]:
        return self.predict_columns(self.columns_from_records(records))

    def predict_frame(self, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        return self.predict_columns(self.columns_from_frame(frame))
