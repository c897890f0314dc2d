"""A team's own model for `model.factory`: a custom feature transformer (products of pairs of
columns) in front of a gradient-boosted regressor, with the ONNX converter that lets the
template export, check and serve it.

Config (the folder holding this file on PYTHONPATH, or the module inside an installed package):

    [model]
    factory = "interactions:build"
    params = {pairs = [["bmi", "bp"], ["bmi", "s5"]], max_iter = 200}
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skl2onnx import update_registered_converter
from skl2onnx.algebra.onnx_ops import OnnxConcat, OnnxGather, OnnxMul
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline


class Interactions(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """The input columns, then one product per pair of column positions (float32 throughout,
    as ONNX computes it, so the exported graph gives the same numbers)."""

    def __init__(self, pairs: list[tuple[int, int]] | None = None) -> None:
        self.pairs = pairs

    def fit(self, X: Any, y: Any = None) -> Interactions:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        products = [X[:, [i]] * X[:, [j]] for i, j in self.pairs or []]
        return np.hstack([X, *products]).astype(np.float32)


def _shape(operator: Any) -> None:
    width = operator.raw_operator.n_features_in_ + len(operator.raw_operator.pairs or [])
    operator.outputs[0].type = FloatTensorType([None, width])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    opv = container.target_opset
    # As the first step of the pipeline it receives one [N, 1] input per feature column.
    inputs = list(operator.inputs)
    X = inputs[0] if len(inputs) == 1 else OnnxConcat(*inputs, axis=1, op_version=opv)
    products = []
    for i, j in operator.raw_operator.pairs or []:
        left = OnnxGather(X, np.array([i], dtype=np.int64), axis=1, op_version=opv)
        right = OnnxGather(X, np.array([j], dtype=np.int64), axis=1, op_version=opv)
        products.append(OnnxMul(left, right, op_version=opv))
    out = OnnxConcat(X, *products, axis=1, op_version=opv, output_names=operator.outputs[:1])
    out.add_to(scope, container)


# Registered on import: the template imports the factory's module before it trains.
update_registered_converter(Interactions, "ExampleInteractions", _shape, _convert)


def build(schema: Any, seed: int, *, pairs: list[list[str]] = (), **params: Any) -> Pipeline:
    """The factory: the schema names the columns (all numeric here), the seed makes it
    reproducible; the config's `params` arrive as keyword arguments."""
    names = schema.feature_names
    missing = [n for n in schema.feature_names if schema.column(n).kind != "numeric"]
    if missing:
        raise ValueError(f"this example takes numeric features only; {missing} are not")
    positions = [(names.index(a), names.index(b)) for a, b in pairs]
    return Pipeline(
        [
            ("interactions", Interactions(positions)),
            ("model", HistGradientBoostingRegressor(random_state=seed, **params)),
        ]
    )
