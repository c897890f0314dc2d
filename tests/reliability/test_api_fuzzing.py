"""The prediction API against inputs generated from its own OpenAPI spec (schemathesis):
no 5xx for anything, and every response as documented (status, headers, body schema)."""

from __future__ import annotations

from collections import Counter
from itertools import product

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.core.settings import Settings
from mlops_template.infra.local import local_backend
from tests.integration.conftest import MODEL, register

EXAMPLES_PER_OPERATION = 150


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, trained):
    backend = local_backend(Settings(home=tmp_path_factory.mktemp("fuzz")))
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="test")
    router = ModelRouter(backend.registry, backend.artifacts, MODEL, "production")
    # A body limit far above what 50 records take: an over-long batch must meet the documented
    # 422 (maxItems), not the 413 of the size limit (tested on its own in tests/integration).
    app = create_app(
        router,
        predictions=backend.predictions,
        max_batch_records=50,
        max_body_bytes=4 * 1024 * 1024,
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_generated_input_breaks_the_api(api_schema, figure):
    statuses: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{o.method.upper()} {o.path}" for o in operations} == {
        "POST /predict",
        "GET /health",
        "GET /model",
        "POST /feedback",
    }
    # Operations without inputs have no invalid variants to generate.
    runs = [
        (o, m)
        for o, m in product(operations, GenerationMode)
        if m is GenerationMode.POSITIVE or o.method.upper() == "POST"
    ]
    for operation, mode in runs:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same cases every CI run: a failure reproduces
            database=None,
        )
        def run(case):
            response = case.call()
            statuses[(f"{case.method} {case.path}", response.status_code)] += 1
            assert response.status_code < 500, (case.method, case.path, case.body, response.text)
            case.validate_response(response)

        run()
    figure(
        "API fuzzing (schemathesis)",
        f"{sum(statuses.values())} requests, no 5xx, by "
        f"operation and status: {dict(sorted(statuses.items()))}",
    )
    posts = sum(n for (op, _), n in statuses.items() if op.startswith("POST"))
    assert posts >= 3 * EXAMPLES_PER_OPERATION  # two operations, valid and invalid inputs
    assert any(status == 422 for (_, status) in statuses)  # invalid inputs were generated
