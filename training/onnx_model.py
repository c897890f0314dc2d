"""Scoring an exported model with onnxruntime: numpy in, labels and probabilities (or values) out.

This is the whole of the serving path's ML: no pandas, no scikit-learn, no pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_template.training.schema import MISSING_CATEGORY, DatasetSchema

if TYPE_CHECKING:
    import pandas as pd


class ModelSchemaMismatch(ValueError):
    """The ONNX graph's inputs or outputs do not match the schema it was registered with."""


class OnnxModel:
    """What classifiers and regressors share: the session and the columns fed to it."""

    def __init__(self, model_bytes: bytes, schema: DatasetSchema, *, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # threads=0: one per core (Lambda's CPU share grows with memory). No spinning: idle
        # threads would burn the share a single-record request needs.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.schema = schema
        inputs = self._session.get_inputs()
        expected = len(schema.model_columns)
        if len(inputs) != expected:
            raise ModelSchemaMismatch(
                f"model has {len(inputs)} inputs, schema has {expected} model inputs"
            )
        # skl2onnx sanitises names ("mean radius" -> "mean_radius"); the order is the schema's.
        self._input_names = [i.name for i in inputs]
        self._numeric = [c.kind == "numeric" for c in schema.columns]
        self._feature_names = schema.feature_names
        # Date columns: the request's text becomes calendar features here, by the function
        # training derived them with (`ColumnSchema.derive`).
        self._dates = {c.name: c for c in schema.columns if c.kind == "datetime"}
        self._model_columns = schema.model_columns
        self.outputs = [o.name for o in self._session.get_outputs()]
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)

    def _run(self, columns: Sequence[np.ndarray]) -> list[Any]:
        feed = {
            name: np.ascontiguousarray(values).reshape(-1, 1)
            for name, values in zip(self._input_names, columns, strict=True)
        }
        return list(self._session.run(None, feed))

    def _expand(self, columns: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One array per feature -> one per model input: a date column's text becomes its
        calendar features."""
        if not self._dates:
            return list(columns)
        out: list[np.ndarray] = []
        for name, values in zip(self._feature_names, columns, strict=True):
            column = self._dates.get(name)
            if column is None:
                out.append(values)
            else:
                texts = [None if v in (None, MISSING_CATEGORY) else v for v in values.tolist()]
                out.extend(column.derive(texts))
        return out

    def columns_from_records(self, records: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
        """One array per model input (schema order, dates as their calendar features)."""
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
        return self._expand(columns)

    def columns_from_frame(self, frame: pd.DataFrame) -> list[np.ndarray]:
        from mlops_template.training.features import model_inputs

        inputs = model_inputs(frame, self.schema)
        return [
            inputs[name].to_numpy(dtype=np.float32 if numeric else object)
            for name, numeric in self._model_columns
        ]

    def columns_from_objects(self, objects: Sequence[Any]) -> list[np.ndarray]:
        """Columns from validated request models (attributes named like the features)."""
        if all(self._numeric) and objects and list(vars(objects[0])) == self._feature_names:
            try:
                # Validated models keep their fields in schema order: one tuple per record and
                # one conversion, no Python loop per value.
                matrix = np.array([tuple(vars(o).values()) for o in objects], dtype=np.float32)
                return [matrix[:, j] for j in range(matrix.shape[1])]
            except TypeError:  # a missing (None) value: the per-column path handles it
                pass
        columns: list[np.ndarray] = []
        for name, numeric in zip(self._feature_names, self._numeric, strict=True):
            values = [getattr(o, name) for o in objects]
            if numeric:
                columns.append(
                    np.array([np.nan if v is None else v for v in values], dtype=np.float32)
                )
            else:
                columns.append(
                    np.array(
                        [MISSING_CATEGORY if v is None else str(v) for v in values], dtype=object
                    )
                )
        return self._expand(columns)


class OnnxClassifier(OnnxModel):
    def __init__(self, model_bytes: bytes, schema: DatasetSchema, *, threads: int = 0) -> None:
        super().__init__(model_bytes, schema, threads=threads)
        if self.outputs[:2] != ["label", "probabilities"]:
            raise ModelSchemaMismatch(
                f"model outputs are {self.outputs}, expected label, probabilities"
            )
        self.classes = list(schema.target.classes)

    def predict_columns(self, columns: Sequence[np.ndarray]) -> tuple[list[str], np.ndarray]:
        """Score one array per feature (schema order). Returns labels and class probabilities."""
        labels, probabilities = self._run(columns)[:2]
        if labels.dtype.kind in "iu":  # XGBoost trains on class indices: 0..k-1 name classes
            return [self.classes[i] for i in labels], np.asarray(probabilities, dtype=np.float64)
        return [str(label) for label in labels], np.asarray(probabilities, dtype=np.float64)

    def predict_objects(self, objects: Sequence[Any]) -> tuple[list[str], np.ndarray]:
        return self.predict_columns(self.columns_from_objects(objects))

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> tuple[list[str], np.ndarray]:
        return self.predict_columns(self.columns_from_records(records))

    def predict_frame(self, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        return self.predict_columns(self.columns_from_frame(frame))

    def outputs_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """What the task's metrics take: class probabilities."""
        return self.predict_frame(frame)[1]


# Where the exported graph carries its split-conformal interval (see `training.conformal`).
INTERVAL_HALF_WIDTH = "interval_half_width"
INTERVAL_COVERAGE = "interval_coverage"


class OnnxRegressor(OnnxModel):
    def __init__(self, model_bytes: bytes, schema: DatasetSchema, *, threads: int = 0) -> None:
        super().__init__(model_bytes, schema, threads=threads)
        if len(self.outputs) != 1:
            raise ModelSchemaMismatch(f"model outputs are {self.outputs}, expected one value")
        half_width = self.metadata.get(INTERVAL_HALF_WIDTH)
        self.interval_half_width = float(half_width) if half_width is not None else None
        coverage = self.metadata.get(INTERVAL_COVERAGE)
        self.interval_coverage = float(coverage) if coverage is not None else None

    def predict_columns(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        """Score one array per feature (schema order). Returns one float64 value per row."""
        (values,) = self._run(columns)
        return np.asarray(values, dtype=np.float64).reshape(-1)

    def predict_objects(self, objects: Sequence[Any]) -> np.ndarray:
        return self.predict_columns(self.columns_from_objects(objects))

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.predict_columns(self.columns_from_records(records))

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_columns(self.columns_from_frame(frame))

    def outputs_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """What the task's metrics take: predicted values."""
        return self.predict_frame(frame)

    def intervals(self, values: np.ndarray) -> np.ndarray | None:
        """[low, high] per value when the model was calibrated, else None."""
        if self.interval_half_width is None:
            return None
        return np.stack([values - self.interval_half_width, values + self.interval_half_width], 1)


def load_onnx_model(
    model_bytes: bytes, schema: DatasetSchema, *, threads: int = 0
) -> OnnxClassifier | OnnxRegressor:
    """The scorer for the schema's task."""
    if schema.target.task == "regression":
        return OnnxRegressor(model_bytes, schema, threads=threads)
    return OnnxClassifier(model_bytes, schema, threads=threads)
