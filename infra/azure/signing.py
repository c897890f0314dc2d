"""Export signatures on Azure: HMAC-SHA-256 with the secret of the app setting
MLOPS_EXPORT_SIGNING_KEY (a Key Vault reference on a Function App). There is no key-file
fallback: a Function App's instances share no disk, so each would sign with a key of its own."""

from __future__ import annotations

from mlops_template.core.ports import SigningUnavailable
from mlops_template.core.signing import HmacSigner


class AppSettingSigner(HmacSigner):
    def own_key(self, *, create: bool) -> bytes | None:
        if self._secret is None and create:
            raise SigningUnavailable(
                "no export signing key: set MLOPS_EXPORT_SIGNING_KEY (a Key Vault reference)"
            )
        return self._secret
