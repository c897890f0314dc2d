"""Azurite for the tests: the launcher `mlops demo --azure-emulated` uses (tooling/azurite.py).
Without node/npm the Azure tests are skipped with that reason.

Under pytest-xdist each worker that runs Azure tests starts its own Azurite (a few seconds);
tests stay apart by unique container and table names, not by instances.
"""

from mlops_template.tooling.azurite import ACCOUNT, KEY, VERSION, Azurite, install, missing_tools

__all__ = ["ACCOUNT", "KEY", "VERSION", "Azurite", "install", "missing_tools"]
