"""One record through a version's ONNX graph, for debugging: the values after each
preprocessing node, the output, and each feature's contribution.

Contributions are by baseline replacement (occlusion), not SHAP: a feature's contribution is
the predicted class's probability for the record minus that probability with the feature
replaced by its baseline (the training mean for a numeric feature, the missing value for a
categorical one, which the one-hot encoder maps to all zeros). They do not sum to the output
and interactions are not split; they say which inputs moved this one answer, and by how much.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from mlops_template.training.onnx_model import OnnxClassifier
from mlops_template.training.schema import MISSING_CATEGORY, DatasetSchema

_OUTPUTS = ("label", "probabilities")
SHOWN_VALUES = 64


class GraphStep(BaseModel):
    node: str
    op: str
    output: str
    values: list[Any] = Field(description=f"The first {SHOWN_VALUES} values, flattened.")
    size: int


class Contribution(BaseModel):
    feature: str
    value: Any
    baseline: Any
    contribution: float = Field(description="p(class | record) - p(class | feature at baseline)")


class Explanation(BaseModel):
    label: str
    probabilities: dict[str, float]
    steps: list[GraphStep]
    contributions: list[Contribution] = Field(description="Largest |contribution| first.")
    method: str = "baseline replacement (occlusion) against the training means"


def _traced_graph(model_bytes: bytes) -> tuple[bytes, list[tuple[str, str, str]]]:
    """The graph with every intermediate node output made a graph output."""
    import onnx
    from onnx import shape_inference

    model = onnx.load_from_string(model_bytes)
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # a graph whose shapes cannot be inferred is traced untyped
        inferred = model
    typed = {v.name: v for v in inferred.graph.value_info}
    existing = {o.name for o in model.graph.output}
    traced: list[tuple[str, str, str]] = []
    for node in model.graph.node:
        for name in node.output:
            if name in existing or name in _OUTPUTS or node.op_type == "Constant":
                continue
            info = typed.get(name) or onnx.helper.make_tensor_value_info(
                name, onnx.TensorProto.FLOAT, None
            )
            model.graph.output.append(info)
            traced.append((node.name, node.op_type, name))
    return model.SerializeToString(), traced


def _baseline(schema: DatasetSchema, name: str) -> Any:
    column = schema.column(name)
    if column.kind == "numeric":
        return column.mean if column.mean is not None else 0.0
    return MISSING_CATEGORY


def explain(model_bytes: bytes, schema: DatasetSchema, record: Mapping[str, Any]) -> Explanation:
    import onnxruntime as ort

    classifier = OnnxClassifier(model_bytes, schema)
    labels, probabilities = classifier.predict_records([record])
    label, row = labels[0], probabilities[0]
    graph, traced = _traced_graph(model_bytes)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    columns = classifier.columns_from_records([record])
    feed = {
        i.name: np.ascontiguousarray(c).reshape(-1, 1)
        for i, c in zip(session.get_inputs(), columns, strict=True)
    }
    names = [o.name for o in session.get_outputs()]
    results = dict(zip(names, session.run(None, feed), strict=True))
    steps = []
    for node, op, output in traced:
        flat = np.asarray(results[output]).ravel()
        shown = [v.item() if hasattr(v, "item") else str(v) for v in flat[:SHOWN_VALUES]]
        steps.append(GraphStep(node=node, op=op, output=output, values=shown, size=flat.size))

    index = classifier.classes.index(label)
    occluded = []
    for name in schema.feature_names:
        baseline = _baseline(schema, name)
        occluded.append({**record, name: baseline})
    _, replaced = classifier.predict_records(occluded)
    contributions = [
        Contribution(
            feature=name,
            value=record.get(name),
            baseline=_baseline(schema, name),
            contribution=round(float(row[index] - replaced[i][index]), 6),
        )
        for i, name in enumerate(schema.feature_names)
    ]
    contributions.sort(key=lambda c: -abs(c.contribution))
    return Explanation(
        label=label,
        probabilities={c: round(float(p), 6) for c, p in zip(classifier.classes, row, strict=True)},
        steps=steps,
        contributions=contributions,
    )
