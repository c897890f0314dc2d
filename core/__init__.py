"""The application core: what the system does, on any provider. Records and ports (the small
interfaces adapters implement), registry rules and errors, the pipeline's steps and its shape
(`pipeline_steps.json`, `pipeline.asl.json`), monitoring, alarm reactions, releases (signed
exports, smoke tests, promotion) and serving (`core.serving`).

May import `training`; never `infra`, `functions` or `tooling` (tests/quality/test_layout.py).
"""
