"""The canary release on AWS (moto): the inference Lambda routes the canary's share, its
captures land in DynamoDB, and the monitor Lambda promotes it through the registry's
conditional writes."""

from __future__ import annotations

import json
from pathlib import Path

from mlops_template.core.canary import load_canary, start_canary
from mlops_template.core.pipeline import LocalPipeline
from mlops_template.functions import monitor
from mlops_template.functions.inference import handler as inference

from .conftest import MODEL
from .test_inference_handler import v2

EVENTS = Path(__file__).resolve().parents[1] / "events"


def test_a_canary_release_is_promoted_by_the_monitor_lambda(
    configured, production_v1, csv_bytes, typed_frame, schema, context
):
    configured.data.put("incoming/day2.csv", csv_bytes)
    second = LocalPipeline(configured).run(MODEL, "incoming/day2.csv")
    assert second.status == "registered", second.error
    start_canary(configured, MODEL, second.version, actor="test", weight=0.5, window_seconds=0)
    rows = typed_frame[schema.feature_names].head(20).to_dict(orient="records")
    body = json.dumps({"records": rows})
    served = {inference.handler(v2(body), context)["statusCode"] for _ in range(30)}
    assert served == {200}

    monitor.handler(json.loads((EVENTS / "eventbridge_schedule.json").read_text()), context)

    aliases = configured.registry.aliases(MODEL)
    assert aliases["production"].version == second.version
    assert load_canary(configured, MODEL) is None
    moves = [(e.stage, e.to_version) for e in configured.registry.history(MODEL)]
    assert ("canary", second.version) in moves and moves[-1] == ("production", second.version)
