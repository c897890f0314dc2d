"""A small feature store: definitions (entities, feature views) as data with content-hash
versions, an offline history in Parquet with point-in-time training sets, an online store port
with the "latest event time wins" write rule, and the entity lookup /predict uses. Nothing here
knows a cloud; the online stores' adapters live in `infra`. docs/feature-store.md.

Serving imports only `online` and `serving` (no pyarrow, no DuckDB: the inference package
carries neither); `offline` and `ingest` are for the CLI and the pipeline.
"""
