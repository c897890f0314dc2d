"""Tooling for people: the `mlops` CLI, the demo, the in-process AWS emulator, Lambda packaging,
the benchmark, the local HTTP server and the API client. Never inside a Lambda package.

May import everything of ours; nothing of ours imports it (tests/quality/test_layout.py).
"""
