"""The deployed prediction API over HTTPS, as the smoke test and `mlops smoke` reach it."""

from __future__ import annotations

from typing import Any


class HttpApiClient:
    """An HTTPS client for a deployed API; `sigv4=True` signs requests for IAM-auth APIs."""

    def __init__(
        self,
        base_url: str,
        *,
        sigv4: bool = False,
        region: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        import httpx2

        self.base_url = base_url.rstrip("/")
        self.sigv4 = sigv4
        self.region = region
        self._http = httpx2.Client(timeout=timeout)

    def _send(self, method: str, path: str, body: bytes | None) -> Any:
        url = self.base_url + path
        headers = {"content-type": "application/json"} if body is not None else {}
        if self.sigv4:
            headers = self._signed(method, url, body, headers)
        return self._http.request(method, url, content=body, headers=headers)

    def _signed(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = boto3.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials to sign the smoke test with")
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(
            credentials.get_frozen_credentials(),
            "execute-api",
            self.region or session.region_name or "us-east-1",
        ).add_auth(request)
        return dict(request.headers.items())

    def get(self, path: str) -> Any:
        return self._send("GET", path, None)

    def post(self, path: str, json: Any = None) -> Any:
        import json as json_module

        return self._send("POST", path, json_module.dumps(json).encode())
