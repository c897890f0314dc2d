"""The feature store's demo: a repository of definitions (this file is one: `--repo` takes its
path) and synthetic entity-keyed data for it. Customers' order statistics change over time;
each payment (an entity row) is labelled fraud from the statistics known at its time and its
amount, so a model trained on a point-in-time training set can learn it, and one trained on
leaked future values would be wrong in serving."""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_template.core.features.definitions import Entity, Feature, FeatureView, FileSource

if TYPE_CHECKING:
    from mlops_template.core.backend import Backend

customer = Entity("customer", join_key="customer_id", description="A paying customer.")


def order_stats(row: Mapping[str, Any]) -> dict[str, Any]:
    """Source totals -> features: the one transform batch and stream ingest both run."""
    orders = int(row["orders"])
    total = float(row["total_spend"])
    return {
        "avg_order": round(total / orders, 6) if orders else 0.0,
        "log_total_spend": round(math.log1p(max(total, 0.0)), 6),
        "orders": orders,
    }


customer_stats = FeatureView(
    name="customer_stats",
    entity=customer,
    features=(Feature("avg_order"), Feature("log_total_spend"), Feature("orders", "int64")),
    ttl=timedelta(days=30),
    source=FileSource(event_time="event_time", created_time="created_time"),
    transform=order_stats,
    description="Order statistics per customer, updated as orders arrive.",
)

START = datetime(2026, 1, 1, tzinfo=UTC)

# A point-in-time training set holds nulls where a customer had no statistics yet (or only
# older than the TTL): the data contract expects them, and the model imputes them.
TRAINING_CONFIG = """\
target = "fraud"

[validation]
max_missing_ratio = 0.6
"""


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def source_rows(
    customers: int = 200, seed: int = 7, start: datetime = START
) -> list[dict[str, Any]]:
    """Each customer's running totals, a few updates over 60 days."""
    rng = random.Random(seed)
    rows = []
    for c in range(customers):
        total, orders = 0.0, 0
        typical = rng.uniform(10, 200)
        t = start + timedelta(hours=rng.uniform(0, 240))
        for _ in range(rng.randint(1, 6)):
            n = rng.randint(1, 5)
            orders += n
            total += sum(rng.uniform(0.5, 1.5) * typical for _ in range(n))
            rows.append(
                {
                    "customer_id": f"c{c}",
                    "event_time": t.isoformat(),
                    "created_time": (t + timedelta(minutes=1)).isoformat(),
                    "total_spend": round(total, 2),
                    "orders": orders,
                }
            )
            t += timedelta(hours=rng.uniform(24, 240))
    return rows


def entity_rows(
    source: list[dict[str, Any]], payments: int = 1500, seed: int = 11, start: datetime = START
) -> list[dict[str, Any]]:
    """Payments: customer, time, amount, and the fraud label from what was known then."""
    rng = random.Random(seed)
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for row in source:
        by_customer.setdefault(row["customer_id"], []).append(row)
    ids = [*sorted(by_customer), "c_new1", "c_new2"]  # customers with no history at all
    rows = []
    for _ in range(payments):
        cid = rng.choice(ids)
        t = start + timedelta(hours=rng.uniform(0, 24 * 70))
        known = [
            r for r in by_customer.get(cid, []) if datetime.fromisoformat(r["event_time"]) <= t
        ]
        avg = order_stats(known[-1])["avg_order"] if known else None
        amount = round(rng.uniform(5, 3 * (avg or 100)), 2)
        fraud = (avg is None and amount > 150) or (avg is not None and amount > 2 * avg)
        if rng.random() < 0.03:
            fraud = not fraud
        rows.append(
            {
                "customer_id": cid,
                "event_timestamp": t.isoformat(),
                "amount": amount,
                "fraud": "yes" if fraud else "no",
            }
        )
    return rows


def demo_files(start: datetime = START) -> tuple[bytes, bytes]:
    """(the view's source CSV, the entity table CSV)."""
    source = source_rows(start=start)
    return _csv(source), _csv(entity_rows(source, start=start))


MODEL = "fraud"


def run_feature_demo(backend: Backend, on_step: Callable[[str], None] | None = None) -> list[str]:
    """`mlops demo --features`: entity data ingested (batch, then a streamed update and an
    out-of-order one refused), a label file given to the pipeline, which builds the
    point-in-time training set from the view and trains a model on it, and /predict answering
    entity ids with features read online; the served values checked against the training
    set's for the same entities and time. Returns one line per step."""
    import json
    import time

    import pyarrow as pa
    import pyarrow.csv as pacsv
    from fastapi.testclient import TestClient

    from mlops_template.core.features.definitions import FeatureRepo
    from mlops_template.core.features.ingest import ingest, materialize, read_source_file
    from mlops_template.core.features.offline import OfflineStore, point_in_time_join
    from mlops_template.core.features.serving import EntityResolver
    from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
    from mlops_template.core.serving.app import create_app
    from mlops_template.core.serving.router import ModelRouter
    from mlops_template.training.config import (
        FeaturesFrom,
        TrainingConfig,
        ValidationThresholds,
    )

    lines: list[str] = []

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    online = backend.online_features
    if online is None:
        raise RuntimeError("this backend has no online feature store")
    repo = FeatureRepo.of(globals().values())
    view = repo.view("customer_stats")
    offline = OfflineStore(backend.data)
    source, entities = demo_files(start=datetime.now(UTC) - timedelta(days=45))

    step("ingest a batch of customer statistics")
    rows = read_source_file(source, "customer_stats.csv", text_columns=["customer_id"])
    result = ingest(view, rows, offline, online)
    lines.append(
        f"batch ingest: {result.rows} rows of {view.name} {view.version} appended offline "
        f"({len(result.offline_keys)} Parquet files), {result.online_written} entities online"
    )

    step("stream two updates (one out of order)")
    now = datetime.now(UTC)
    update = {"customer_id": "c0", "event_time": now.isoformat(), "total_spend": 999.0, "orders": 9}
    stale = {**update, "event_time": (now - timedelta(days=300)).isoformat(), "total_spend": 1.0}
    written = ingest(view, [update], offline, online).online_written
    refused = 1 - ingest(view, [stale], offline, online).online_written
    lines.append(
        f"stream ingest: newer update stored ({written}), older one refused online ({refused}) "
        "and kept in the offline history"
    )

    step("train from the view: the pipeline joins the payments, trains, registers")
    # The pipeline builds the training set itself: the config names the view, and the file
    # that arrives is the label file (customer, time, amount, fraud).
    steps = PipelineSteps(backend, feature_repo=repo)
    steps.save_config(
        TrainingConfig(
            model_name=MODEL,
            target="fraud",
            validation=ValidationThresholds(max_missing_ratio=0.6),
            features_from=FeaturesFrom(views=[view.name], entity_keys=[view.entity.join_key]),
        ),
        actor="demo",
    )
    backend.data.put("incoming/payments.csv", entities)
    run = LocalPipeline(backend, actor="demo", steps=steps).run(
        MODEL, "incoming/payments.csv", auto_promote="production"
    )
    if run.status != "registered" or run.version is None:
        raise RuntimeError(f"training ended {run.status}: {run.error}")
    version = backend.registry.get(MODEL, run.version)
    trained_on = steps.latest_dataset(MODEL)
    assert trained_on is not None and version.training_set is not None
    digest = version.data_sha256
    table = pacsv.read_csv(io.BytesIO(backend.data.get(trained_on.key)))
    nulls = table.column("avg_order").null_count
    lines.append(
        f"training set: {table.num_rows} payments kept (of "
        f"{version.training_set['entity_rows']}), joined point in time by the pipeline, "
        f"{nulls} with no statistics known yet (nulls), sha256 {digest[:12]}"
    )
    views = ", ".join(f"{v['name']} {v['version']}" for v in version.training_set["views"])
    lines.append(f"model {MODEL} v{run.version} registered and in production, trained on {views}")

    step("predict for entity ids")
    router = ModelRouter(backend.registry, backend.artifacts, MODEL, "production")
    client = TestClient(create_app(router, online_features=online, feature_missing="default"))
    ids = ["c0", "c1", "c2", "nobody"]
    answer = client.post(
        "/predict", json={"records": [{"customer_id": c, "amount": 120.0} for c in ids]}
    )
    if answer.status_code != 200:
        raise RuntimeError(f"/predict answered {answer.status_code}: {answer.text}")
    labels = [p["label"] for p in answer.json()["predictions"]]
    lines.append(
        f"/predict {{customer_id, amount}} for {ids}: {labels} (features read online; "
        "'nobody' has none: the training default, null)"
    )

    step("check: served values == training set values")
    materialize(view, offline, online)
    at = time.time()
    resolver = EntityResolver(online, backend.artifacts, policy="default", clock=lambda: at)
    body = json.dumps({"records": [{"customer_id": c} for c in ids]}).encode()
    served = json.loads(resolver.resolve(body, digest))["records"]
    keys = pa.table(
        {
            "customer_id": ids,
            "event_timestamp": pa.array([int(at * 1000)] * len(ids), pa.timestamp("ms", tz="UTC")),
        }
    )
    spec = view.spec()
    expected = point_in_time_join(keys, [(spec, offline.history(spec))]).to_pylist()
    same = [{n: r[n] for n in view.feature_names} for r in expected] == served
    if not same:
        raise RuntimeError(f"skew: served {served} != offline {expected}")
    lines.append(f"no skew: online values for {len(ids)} entities equal the point-in-time join's")
    return lines
