"""The Azure Functions app (Python v2 programming model): the same core behind Azure's triggers,
as `functions/` puts it behind Lambda's. HTTP serves the FastAPI app through AsgiFunctionApp;
Event Grid starts the pipeline on a new blob under incoming/; one Storage-queue function per
pipeline step (core/chain.py) plus their poison queues; a timer runs the monitor; Azure Monitor
alerts (common alert schema, via an action group) retrain or roll back.

May import `training`, the core and the `infra` package's factories, like `functions/`.
"""
