"""Export signatures locally: HMAC-SHA-256 with the setting's secret, else a random key kept in
MLOPS_HOME (created on the first export, readable by its owner only)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from mlops_template.core.signing import HmacSigner


class KeyFileSigner(HmacSigner):
    def __init__(self, secret: str, key_file: Path, trusted: Sequence[str] = ()) -> None:
        super().__init__(secret, trusted)
        self._key_file = key_file

    def own_key(self, *, create: bool) -> bytes | None:
        if self._secret is not None:
            return self._secret
        if self._key_file.is_file():
            return self._key_file.read_bytes()
        if not create:
            return None
        self._key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(32).encode())
        return self._key_file.read_bytes()
