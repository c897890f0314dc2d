"""Streaming scoring's results on the local backend: one JSON line each in a file."""

from __future__ import annotations

import threading
from pathlib import Path

_LOCK = threading.Lock()


class JsonLinesResultQueue:
    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, body: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK, self.path.open("a", encoding="utf-8") as handle:
            handle.write(body.replace("\n", " ") + "\n")
