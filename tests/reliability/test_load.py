"""Bounded load on `mlops serve` (uvicorn on 127.0.0.1) while production moves from v1 to v2:
no failed request, every answer names the version that served it, nothing captured is lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from mlops_template.core.settings import Settings
from mlops_template.infra.local import local_backend
from tests.conftest import free_port
from tests.integration.conftest import MODEL, register

CONCURRENCY = 8
DURATION_SECONDS = 4.0
SWITCH_AT_SECONDS = 2.0
REFRESH_SECONDS = 0.25


@contextmanager
def mlops_serve(
    home: Path, *args: str, host: str = "127.0.0.1", healthy: bool = True, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`mlops serve` in its own process on a free port, as users run it; yields its URL (once
    /health answers: 200, or any status when `healthy` is False) and the process, whose
    stderr is a pipe."""
    port = free_port()
    mlops = str(Path(sys.executable).with_name("mlops"))
    env = {
        **os.environ,
        "MLOPS_HOME": str(home),
        **{f"MLOPS_{name.upper()}": value for name, value in settings.items()},
    }
    process = subprocess.Popen(
        [mlops, "serve", "--host", host, "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                status = httpx2.get(f"{url}/health", timeout=1).status_code
                if status == 200 or not healthy:
                    break
            except httpx2.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "mlops serve did not become healthy"
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def server(tmp_path, trained, typed_frame, schema):
    home = tmp_path / "home"
    backend = local_backend(Settings(home=home))
    v1, v2 = register(backend, trained, run_id="r1"), register(backend, trained, run_id="r2")
    backend.registry.promote(MODEL, v1.version, "production", actor="test")
    records = typed_frame[schema.feature_names].head(3).to_dict(orient="records")
    with mlops_serve(
        home,
        model_name=MODEL,
        model_refresh_seconds=str(REFRESH_SECONDS),
        capture_sample_rate="1",
    ) as (url, _):
        yield url, backend, v1.version, v2.version, records


async def load(url: str, records: list[dict], on_switch) -> list[dict]:
    results: list[dict] = []
    start = time.perf_counter()
    switched = False

    async def worker(client: httpx2.AsyncClient) -> None:
        nonlocal switched
        while (elapsed := time.perf_counter() - start) < DURATION_SECONDS:
            if elapsed >= SWITCH_AT_SECONDS and not switched:
                switched = True
                on_switch()
            sent = time.perf_counter()
            try:
                response = await client.post(f"{url}/predict", json={"records": records})
                status, body = response.status_code, response.json()
            except httpx2.HTTPError as exc:
                status, body = 0, {"error": str(exc)}
            results.append(
                {
                    "sent": sent - start,
                    "latency": time.perf_counter() - sent,
                    "status": status,
                    "version": body.get("version"),
                    "predictions": len(body.get("predictions", [])),
                }
            )

    async with httpx2.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return results


def test_load_across_a_production_switch_loses_nothing(server, figure):
    url, backend, v1, v2, records = server
    switch_time: list[float] = []

    def promote() -> None:
        backend.registry.promote(MODEL, v2, "production", actor="load-test")
        switch_time.append(time.perf_counter())

    began = time.perf_counter()
    results = asyncio.run(load(url, records, promote))
    failed = [r for r in results if r["status"] != 200]
    latencies = sorted(r["latency"] for r in results)
    seconds = max(r["sent"] + r["latency"] for r in results)
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    figure(
        "load on mlops serve",
        f"{len(results)} requests in {seconds:.1f}s = {len(results) / seconds:.0f} req/s, "
        f"{CONCURRENCY} concurrent, errors {len(failed)} ({len(failed) / len(results):.1%}), "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
        f"{sum(r['version'] == v1 for r in results)} by v{v1}, "
        f"{sum(r['version'] == v2 for r in results)} by v{v2}",
    )
    assert not failed, failed[:3]
    assert {r["version"] for r in results} == {v1, v2}
    assert all(r["predictions"] == len(records) for r in results)
    # Once v2 answered, every request sent afterwards is answered by v2.
    first_v2 = min(r["sent"] + r["latency"] for r in results if r["version"] == v2)
    assert all(r["version"] == v2 for r in results if r["sent"] > first_v2)
    # v2 took over within the refresh interval (plus requests already in flight).
    switched_at = switch_time[0] - began
    assert first_v2 - switched_at < REFRESH_SECONDS + 1.0
    # Every answered prediction was captured for monitoring: nothing lost.
    captured = backend.predictions.recent(MODEL, limit=100_000)
    assert len(captured) == sum(r["predictions"] for r in results)
