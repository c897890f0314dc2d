"""The API tests' client, sent through each serverless entry point instead of a socket: the
same FastAPI app behind Mangum with API Gateway HTTP API events (Lambda), and behind
`AsgiFunctionApp` with `func.HttpRequest` under the host's /api route prefix (Azure Functions).
Each answers with the response object Starlette's test client gives, so a test cannot tell."""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx2

# AsgiFunctionApp runs asyncio.run() in __del__: collected while another test's event loop runs,
# it raises there. Kept alive, they are collected at exit.
_KEPT: list[Any] = []


class ServerlessClient:
    def __init__(self, app: Any, via: str) -> None:
        self.via = via
        if via == "lambda":
            from mangum import Mangum

            self._mangum = Mangum(app, lifespan="off")
        else:
            import azure.functions as func

            from mlops_template.azure_functions.app import ROUTE_PREFIX, RoutePrefix

            self._prefix = ROUTE_PREFIX
            functions = func.AsgiFunctionApp(
                app=RoutePrefix(lambda: app), http_auth_level=func.AuthLevel.ANONYMOUS
            )
            _KEPT.append(functions)
            [http] = [
                f for f in functions.get_functions() if f.get_function_name() == "http_app_func"
            ]
            self._function = http.get_user_function()

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        sent = {"host": "testserver", **{k.lower(): v for k, v in (headers or {}).items()}}
        body = b""
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent.setdefault("content-type", "application/json")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        if body:
            sent["content-length"] = str(len(body))
        parts = urlsplit(url)
        if self.via == "lambda":
            status, answer_headers, answer = self._lambda(method, parts, sent, body)
        else:
            status, answer_headers, answer = self._functions(method, url, sent, body)
        return httpx2.Response(
            status,
            headers=answer_headers,
            content=answer,
            request=httpx2.Request(method, f"http://testserver{url}"),
        )

    def _lambda(self, method: str, parts: Any, headers: dict[str, str], body: bytes):
        now = time.time()
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": parts.path,
            "rawQueryString": parts.query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "domainName": "testserver",
                "domainPrefix": "testserver",
                "http": {
                    "method": method,
                    "path": parts.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": headers.get("user-agent", "tests"),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": "$default",
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        response = self._mangum(event, None)
        answer = response.get("body") or ""
        data = base64.b64decode(answer) if response.get("isBase64Encoded") else answer.encode()
        return response["statusCode"], response.get("headers") or {}, data

    def _functions(self, method: str, url: str, headers: dict[str, str], body: bytes):
        import azure.functions as func

        # A path from a page's link is host-absolute (it carries the prefix already).
        path = url if url.startswith(f"{self._prefix}/") else f"{self._prefix}{url}"
        request = func.HttpRequest(method, f"https://testserver{path}", headers=headers, body=body)
        response = asyncio.run(self._function(request, None))
        return response.status_code, dict(response.headers), response.get_body()

    def get(self, url: str, **kwargs: Any) -> httpx2.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx2.Response:
        return self.request("POST", url, **kwargs)
