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
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_template.core.features.definitions import Entity, Feature, FeatureView, FileSource

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
