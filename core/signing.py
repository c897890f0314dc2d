"""Export signatures with HMAC-SHA-256 over shared secrets (the ExportSigner port where no key
service signs): this environment's key, and the keys of the environments it imports from.
Where the own key lives is the adapter's choice (`own_key`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence


def key_id(secret: bytes) -> str:
    """Names a key without revealing it: the start of its SHA-256."""
    return f"hmac-sha256:{hashlib.sha256(secret).hexdigest()[:16]}"


class HmacSigner:
    def __init__(self, secret: str, trusted: Sequence[str] = ()) -> None:
        self._secret = secret.encode() if secret else None
        self._trusted = [t.encode() for t in trusted if t]

    def own_key(self, *, create: bool) -> bytes | None:
        """This environment's key: the configured secret. `create`: about to sign (an adapter
        may make a key then, or refuse with SigningUnavailable)."""
        return self._secret

    def _keys(self) -> list[bytes]:
        own = self.own_key(create=False)
        return [*([own] if own else []), *self._trusted]

    def sign(self, message: bytes) -> tuple[str, str]:
        secret = self.own_key(create=True)
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
