"""Export signatures with HMAC-SHA-256 and a secret: the setting, else a random key kept in
MLOPS_HOME (created on the first export, readable by its owner only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path


def key_id(secret: bytes) -> str:
    """Names a key without revealing it: the start of its SHA-256."""
    return f"hmac-sha256:{hashlib.sha256(secret).hexdigest()[:16]}"


class HmacSigner:
    def __init__(self, secret: str, key_file: Path, trusted: Sequence[str] = ()) -> None:
        self._secret = secret.encode() if secret else None
        self._key_file = key_file
        self._trusted = [t.encode() for t in trusted if t]

    def _own(self, *, create: bool) -> bytes | None:
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

    def _keys(self) -> list[bytes]:
        own = self._own(create=False)
        return [*([own] if own else []), *self._trusted]

    def sign(self, message: bytes) -> tuple[str, str]:
        secret = self._own(create=True)
        assert secret is not None
        mac = hmac.digest(secret, message, "sha256")
        return key_id(secret), base64.b64encode(mac).decode()

    def verify(self, message: bytes, mac: str) -> str | None:
        try:
            expected = base64.b64decode(mac, validate=True)
        except ValueError:
            return None
        for secret in self._keys():
            if hmac.compare_digest(hmac.digest(secret, message, "sha256"), expected):
                return key_id(secret)
        return None

    def trusted(self) -> list[str]:
        return [key_id(k) for k in self._keys()]
