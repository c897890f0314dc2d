"""Entity records at /predict: `{"customer_id": "c42", "amount": 12.5}` becomes a full record
with the features the model was trained with, read from the online store.

The model version's training set names its views and their versions (its manifest, stored in
the artifact bucket under the training set's SHA-256, which is the version's `data_sha256`).
Records naming that entity's join key get each missing feature from the online store, in one
batched read per request. Values are stored already transformed (ingest runs the view's
transform once, for the offline history and the online store alike), so the model sees the
values its training set held. A missing entity, a deleted one or a value older than the view's
TTL is answered as configured: `reject` (a 422 naming the record, the entity and the view) or
`default` (null, which is what the point-in-time training set held in that case; the model
imputes it as it did in training). Each such miss is counted in the FeatureMisses metric.

No pandas, pyarrow or DuckDB here: this runs in the inference Lambda.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from mlops_template.core.features.definitions import ViewSpec
from mlops_template.core.features.online import OnlineKey, OnlineStore
from mlops_template.core.ports import BlobNotFound, BlobStore
from mlops_template.core.serving.bodies import BodyValidationError

MissingPolicy = Literal["reject", "default"]
MANIFEST_PREFIX = "features/training-sets"


def manifest_key(data_sha256: str) -> str:
    return f"{MANIFEST_PREFIX}/{data_sha256}.json"


class EntityResolver:
    def __init__(
        self,
        store: OnlineStore,
        artifacts: BlobStore,
        *,
        policy: MissingPolicy = "reject",
        emit: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.policy = policy
        self.emit = emit
        self.clock = clock
        self._specs: dict[str, list[ViewSpec] | None] = {}
        self._lock = threading.Lock()

    def views_for(self, data_sha256: str) -> list[ViewSpec] | None:
        """The views a version was trained with (None: not trained from a feature store)."""
        if data_sha256 not in self._specs:
            try:
                manifest = json.loads(self.artifacts.get(manifest_key(data_sha256)))
                specs: list[ViewSpec] | None = [ViewSpec.from_json(v) for v in manifest["views"]]
            except BlobNotFound:
                specs = None
            with self._lock:
                self._specs[data_sha256] = specs
        return self._specs[data_sha256]

    def resolve(self, body: bytes, data_sha256: str) -> bytes:
        """The body with entity records completed (unchanged when nothing names an entity)."""
        return self.resolve_entities(body, data_sha256)[0]

    def resolve_entities(
        self, body: bytes, data_sha256: str
    ) -> tuple[bytes, list[dict[str, str]] | None]:
        """`resolve`, and per record the join keys it named (None: no record named one), which
        captures keep so the monitor can compare served values with the offline history."""
        views = self.views_for(data_sha256)
        if not views:
            return body, None
        try:
            parsed = json.loads(body)
        except ValueError:
            return body, None  # the scorer answers the 422
        records = parsed.get("records") if isinstance(parsed, dict) else None
        if not isinstance(records, list):
            return body, None
        wanted: list[tuple[int, ViewSpec, OnlineKey]] = []
        named = False
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                continue
            for view in views:
                entity = record.get(view.join_key)
                if entity is None or isinstance(entity, dict | list | bool):
                    continue
                named = True
                if any(name not in record for name, _ in view.features):
                    wanted.append((i, view, OnlineKey(view.name, view.version, str(entity))))
        if not named:
            return body, None
        found = self.store.read(list({k for _, _, k in wanted})) if wanted else {}
        now_ms = int(self.clock() * 1000)
        errors: list[dict[str, Any]] = []
        misses: Counter[tuple[str, str]] = Counter()
        for i, view, key in wanted:
            record = records[i]
            stored = found.get(key)
            reason = None
            if stored is None or stored.deleted:
                reason = "missing"
            elif now_ms - stored.event_ms > view.ttl_ms:
                reason = "stale"
            if reason is not None:
                misses[(view.name, reason)] += 1
                if self.policy == "reject":
                    errors.append(_miss_error(i, view, key.entity, reason))
                    continue
            for name, _ in view.features:
                if name not in record:
                    record[name] = None if reason else stored.values.get(name)  # type: ignore[union-attr]
        for (view_name, reason), n in misses.items():
            if self.emit is not None:
                self.emit("FeatureMisses", n, view=view_name, reason=reason)
        if errors:
            raise BodyValidationError(errors[:20], count=len(errors))
        join_keys = {v.join_key for v in views}
        entities: list[dict[str, str]] = []
        for record in records:
            named_keys: dict[str, str] = {}
            if isinstance(record, dict):
                for key_name in join_keys:
                    value = record.pop(key_name, None)
                    if value is not None and not isinstance(value, dict | list | bool):
                        named_keys[key_name] = str(value)
            entities.append(named_keys)
        return json.dumps(parsed).encode(), entities


def _miss_error(index: int, view: ViewSpec, entity: str, reason: str) -> dict[str, Any]:
    what = (
        "has no features"
        if reason == "missing"
        else f"has features older than the view's TTL ({view.ttl_ms // 1000} s)"
    )
    return {
        "type": f"feature_{reason}",
        "loc": ("body", "records", index, view.join_key),
        "msg": f"entity {entity!r} {what} in feature view {view.name!r}",
        "input": entity,
    }
