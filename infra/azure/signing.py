"""Export signatures on Azure: the local HMAC-SHA-256 signer, its secret from the app setting
MLOPS_EXPORT_SIGNING_KEY (a Key Vault reference on a Function App). There is no key-file
fallback: a Function App's instances share no disk, so each would sign with a key of its own."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mlops_template.core.ports import SigningUnavailable
from mlops_template.infra.local.signing import HmacSigner


class AppSettingSigner(HmacSigner):
    def __init__(self, secret: str, trusted: Sequence[str] = ()) -> None:
        super().__init__(secret, Path(os.devnull), trusted)

    def _own(self, *, create: bool) -> bytes | None:
        if self._secret is None and create:
            raise SigningUnavailable(
                "no export signing key: set MLOPS_EXPORT_SIGNING_KEY (a Key Vault reference)"
            )
        return self._secret
