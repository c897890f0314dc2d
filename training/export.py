"""ONNX export of a fitted pipeline, and the parity check that proves the export is faithful."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_template.training.onnx_model import OnnxClassifier, OnnxRegressor
from mlops_template.training.schema import DatasetSchema

if TYPE_CHECKING:
    import pandas as pd
    from onnx import ModelProto

# Fixed opsets: the same fitted model gives the same bytes whatever converter defaults become.
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}


class UnconvertibleStepError(ValueError):
    """A step of the model has no ONNX converter registered with skl2onnx."""


def final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return final_estimator(steps[-1][1]) if steps else model


def _steps(model: Any, path: str) -> list[tuple[str, Any]]:
    """Every estimator of a model, nested pipelines and column transformers opened, by path."""
    found = [(path, model)]
    children: list[tuple[str, Any]] = []
    if hasattr(model, "steps"):
        children = list(model.steps)
    elif hasattr(model, "transformers"):
        children = [(name, t) for name, t, _ in model.transformers]
    elif hasattr(model, "transformer_list"):
        children = list(model.transformer_list)
    for name, child in children:
        if child in ("drop", "passthrough", None):
            continue
        found.extend(_steps(child, f"{path}.{name}" if path else name))
    return found


def register_boosting_converters() -> None:
    """Teach skl2onnx the LightGBM and XGBoost estimators (whichever extra is installed),
    with the converters onnxmltools makes for them, so they export inside our pipeline."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        pass
    else:
        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=classifier_options,
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor
    except ImportError:
        pass
    else:
        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=classifier_options,
        )
        update_registered_converter(
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )


def float32_thresholds(model: Any) -> None:
    """Make a fitted LightGBM model's split thresholds float32 numbers, in place.

    LightGBM keeps thresholds as float64 midpoints; ONNX trees hold float32 ones, and rounding a
    midpoint up to the next float32 sends rows with exactly that value down the other branch.
    Our inputs are float32, and for a float32 x, x <= t holds exactly when x <= the largest
    float32 not above t: rounding every threshold down that way changes no prediction of the
    model and makes the ONNX graph split where LightGBM does.
    """
    import re

    estimator = final_estimator(model)
    if not type(estimator).__module__.startswith("lightgbm"):
        return
    from lightgbm import Booster

    def down(match: re.Match[str]) -> str:
        values = np.array(match.group(1).split(), dtype=np.float64)
        rounded = values.astype(np.float32)
        rounded = np.where(rounded > values, np.nextafter(rounded, np.float32(-np.inf)), rounded)
        return "threshold=" + " ".join(repr(float(v)) for v in rounded)

    text = re.sub(r"threshold=([^\n]*)", down, estimator.booster_.model_to_string())
    # The header's byte sizes of the trees no longer hold: without them LightGBM reads on.
    text = re.sub(r"^tree_sizes=.*\n", "", text, flags=re.MULTILINE)
    estimator._Booster = Booster(model_str=text)


def check_convertible(model: Any) -> None:
    """Fail at training, before the fit, when skl2onnx has no converter for a step: never a
    model that trains and then cannot be served."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    register_boosting_converters()
    for path, step in _steps(model, ""):
        if type(step) in sklearn_operator_name_map:
            continue
        if hasattr(step, "steps") or hasattr(step, "transformers"):
            continue  # containers: their own converters are registered, their children checked
        cls = type(step)
        raise UnconvertibleStepError(
            f"step {path or 'model'!r} ({cls.__module__}.{cls.__qualname__}) has no ONNX "
            "converter, so the model could not be served: register one where the class is "
            "defined with skl2onnx.update_registered_converter("
            f"{cls.__qualname__}, alias, shape_calculator, converter) (docs/models.md shows one)"
        )


class ParityError(ValueError):
    """The ONNX graph's probabilities differ from scikit-learn's by more than the tolerance."""


def export_onnx(
    pipeline: Any, schema: DatasetSchema, metadata: dict[str, str] | None = None
) -> bytes:
    """The fitted pipeline as one ONNX graph; `metadata` goes into the model's properties."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    register_boosting_converters()

    # A date column is fed as its calendar features (numbers): the graph never parses text.
    initial_types = [
        (name, FloatTensorType([None, 1]) if numeric else StringTensorType([None, 1]))
        for name, numeric in schema.model_columns
    ]
    estimator = final_estimator(pipeline)
    # Classifiers: a plain probability tensor instead of a list of dicts (cheaper to read).
    options = {} if schema.target.task == "regression" else {id(estimator): {"zipmap": False}}
    model = to_onnx(
        pipeline, initial_types=initial_types, options=options, target_opset=TARGET_OPSET
    )
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
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
    pipeline: Any, onnx_bytes: bytes, frame: pd.DataFrame, schema: DatasetSchema
) -> float:
    """Largest difference between scikit-learn and ONNX: of class probabilities, or of values
    over max(1, |value|) for regression (an absolute tolerance for values below 1 and a relative
    one above: ONNX computes in float32, whose error grows with the value)."""
    from mlops_template.training.features import model_inputs

    if not len(frame):
        return 0.0
    inputs = model_inputs(frame, schema)
    if schema.target.task == "regression":
        expected = np.asarray(pipeline.predict(inputs), dtype=np.float64).reshape(-1)
        actual = OnnxRegressor(onnx_bytes, schema).predict_frame(frame)
        return float(np.max(np.abs(expected - actual) / np.maximum(1.0, np.abs(expected))))
    expected = pipeline.predict_proba(inputs)
    _, probabilities = OnnxClassifier(onnx_bytes, schema).predict_frame(frame)
    return float(np.max(np.abs(expected - probabilities)))
