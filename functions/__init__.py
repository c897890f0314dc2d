"""When things happen: one thin Lambda handler per job. Each parses its event (Powertools),
calls the core and returns; `runtime` builds the backend once per container through `infra`'s
factories.

May import `training`, the core and the `infra` package's factories (never an adapter directly).
"""
