"""The PipelineStarter port locally: runs the pipeline in-process, once per token."""

from __future__ import annotations

from mlops_template.core.backend import Backend
from mlops_template.core.pipeline import LocalPipeline
from mlops_template.core.records import PipelineStart


class LocalPipelineStarter:
    def __init__(self, backend: Backend, *, actor: str = "pipeline") -> None:
        self.backend = backend
        self.actor = actor

    def start(self, model: str, key: str, *, token: str, reason: str) -> PipelineStart:
        marker = f"pipeline-runs/{model}/{token}.json"
        if self.backend.data.exists(marker):
            return PipelineStart(execution=token, started=False)
        self.backend.data.put(marker, b"{}")  # claimed before running: a second start is a no-op
        result = LocalPipeline(self.backend, actor=self.actor).run(model, key, run_id=token)
        self.backend.data.put(marker, result.model_dump_json().encode())
        return PipelineStart(execution=token, started=True)
