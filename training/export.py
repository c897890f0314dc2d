"""ONNX export of a fitted pipeline, and the parity check that proves the export is faithful."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlops_template.training.onnx_model import OnnxClassifier
from mlops_template.training.schema import DatasetSchema

if TYPE_CHECKING:
    import pandas as pd
    from onnx import ModelProto
    from sklearn.pipeline import Pipeline

# Fixed opsets: the same fitted model gives the same bytes whatever converter defaults become.
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}


class ParityError(ValueError):
    """The ONNX graph's probabilities differ from scikit-learn's by more than the tolerance."""


def export_onnx(pipeline: Pipeline, schema: DatasetSchema) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [
        (c.name, FloatTensorType([None, 1]) if c.kind == "numeric" else StringTensorType([None, 1]))
        for c in schema.columns
    ]
    estimator = pipeline.steps[-1][1]
    model = to_onnx(
        pipeline,
        initial_types=initial_types,
        # Plain probability tensor instead of a list of dicts: cheaper to read in the server.
        options={id(estimator): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    return canonical_bytes(model)


def canonical_bytes(model: ModelProto) -> bytes:
    """The model serialised with every set-like field in a fixed order.

    skl2onnx collects the opsets a graph uses in a Python set, so the order of `opset_import`
    follows the process's string hashing (PYTHONHASHSEED): the same graph would give other bytes,
    and another SHA-256, in another process.
    """
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    for domain, version in opsets:
        model.opset_import.add(domain=domain, version=version)
    metadata = sorted((p.key, p.value) for p in model.metadata_props)
    del model.metadata_props[:]
    for key, value in metadata:
        model.metadata_props.add(key=key, value=value)
    return bytes(model.SerializeToString(deterministic=True))


def parity_error(
    pipeline: Pipeline, onnx_bytes: bytes, frame: pd.DataFrame, schema: DatasetSchema
) -> float:
    """Largest absolute difference between scikit-learn and ONNX class probabilities."""
    from mlops_template.training.features import model_inputs

    expected = pipeline.predict_proba(model_inputs(frame, schema))
    _, actual = OnnxClassifier(onnx_bytes, schema).predict_frame(frame)
    return float(np.max(np.abs(expected - actual))) if len(frame) else 0.0
