"""Export signatures with KMS HMAC keys (GenerateMac / VerifyMac): the key never leaves KMS, and
IAM decides who may sign (the environment's own CI role) and verify."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from mlops_template.core.ports import SigningUnavailable
from mlops_template.infra.aws.clients import client, error_code

ALGORITHM = "HMAC_SHA_256"


class KmsMacSigner:
    def __init__(self, key_id: str, trusted: Sequence[str] = (), *, kms: Any = None) -> None:
        self.key_id = key_id
        self._trusted = [t for t in trusted if t]
        self._client = kms

    @property
    def _kms(self) -> Any:
        # Made on first use: the inference Lambda builds this backend but never signs.
        if self._client is None:
            self._client = client("kms")
        return self._client

    def sign(self, message: bytes) -> tuple[str, str]:
        if not self.key_id:
            raise SigningUnavailable(
                "no export signing key: set MLOPS_EXPORT_SIGNING_KEY (the Terraform output "
                "export_signing_key; `mlops env` sets it)"
            )
        response = self._kms.generate_mac(
            KeyId=self.key_id, Message=message, MacAlgorithm=ALGORITHM
        )
        return str(response["KeyId"]), base64.b64encode(response["Mac"]).decode()

    def verify(self, message: bytes, mac: str) -> str | None:
        try:
            raw = base64.b64decode(mac, validate=True)
        except ValueError:
            return None
        for key in self.trusted():
            try:
                response = self._kms.verify_mac(
                    KeyId=key, Message=message, MacAlgorithm=ALGORITHM, Mac=raw
                )
            except ClientError as exc:
                if error_code(exc) == "KMSInvalidMacException":
                    continue  # made with another key: try the next trusted one
                raise
            if response.get("MacValid"):
                return str(response["KeyId"])
        return None

    def trusted(self) -> list[str]:
        return [k for k in (self.key_id, *self._trusted) if k]
