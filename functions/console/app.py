"""The console's static pages (functions/console/static/) and its sign-in configuration.

The console is served by routes of the HTTP API, beside its API (`/console/api/...`, the admin
function behind the Cognito JWT authorizer): one origin, so the browser needs no CORS for the API
and the stack prints one URL (docs/adr/0037-console.md). Assets are small and few; each answer
carries an ETag, and `If-None-Match` gets a 304, so a browser revalidates instead of downloading.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calbridge.errors import InvalidConfiguration
from calbridge.observability import logger, metrics, tracer

STATIC = Path(__file__).parent / "static"
_TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json"}


class ConsoleSettings(BaseModel):
    """Where the browser signs in: the user pool's app client and Cognito's endpoint (in AWS the
    regional one; locally moto's server)."""

    model_config = ConfigDict(frozen=True)

    console_user_pool_id: str = Field(min_length=1)
    console_client_id: str = Field(min_length=1)
    console_cognito_endpoint: str = Field(pattern=r"^https?://")
    aws_region: str = Field(default="eu-central-1", min_length=1)


def _settings() -> ConsoleSettings:
    names = ConsoleSettings.model_fields
    try:
        return ConsoleSettings(**{k: os.environ[k.upper()] for k in names if k.upper() in os.environ})
    except ValidationError as exc:
        raise InvalidConfiguration(f"console configuration: {exc}") from exc


settings = _settings()


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _asset(body: bytes, content_type: str) -> Asset:
    return Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@cache
def config_asset() -> Asset:
    endpoint = settings.console_cognito_endpoint
    body = {
        "region": settings.aws_region,
        "user_pool_id": settings.console_user_pool_id,
        "client_id": settings.console_client_id,
        "cognito_endpoint": endpoint if endpoint.endswith("/") else endpoint + "/",
    }
    return _asset(json.dumps(body).encode(), "application/json")


@cache
def static_asset(relative: str) -> Asset | None:
    """A file of static/, or None: never a path outside it (`..`, absolute, hidden files)."""
    parts = relative.split("/")
    if not relative or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    path = STATIC.joinpath(*parts)
    if not path.is_file():
        return None
    content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith(_TEXT_TYPES):
        content_type += "; charset=utf-8"
    return _asset(path.read_bytes(), content_type)


def security_headers() -> dict[str, str]:
    # The pages run only their own scripts and talk only to this origin and Cognito.
    cognito = settings.console_cognito_endpoint.rstrip("/")
    return {
        "content-security-policy": (
            f"default-src 'self'; connect-src 'self' {cognito}; img-src 'self' data:; "
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
        ),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
    }


def _answer(status: int, asset: Asset | None, **headers: str) -> dict[str, Any]:
    all_headers = {**security_headers(), **headers}
    if asset is None:
        return {"statusCode": status, "headers": all_headers, "body": ""}
    all_headers.update({"content-type": asset.content_type, "etag": asset.etag, "cache-control": "no-cache"})
    text = asset.content_type.startswith(_TEXT_TYPES)
    return {
        "statusCode": status,
        "headers": all_headers,
        "body": asset.body.decode() if text else base64.b64encode(asset.body).decode(),
        "isBase64Encoded": not text,
    }


def serve(path: str, if_none_match: str | None) -> dict[str, Any]:
    asset = config_asset() if path == "config.json" else static_asset(path or "index.html")
    if asset is None:
        return {
            "statusCode": 404,
            "headers": {**security_headers(), "content-type": "text/plain; charset=utf-8"},
            "body": "not found",
        }
    if if_none_match and asset.etag in (tag.strip() for tag in if_none_match.split(",")):
        return _answer(304, None, etag=asset.etag)
    return _answer(200, asset)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # GET /console is the page (its <base href="/console/"> resolves what it loads);
    # GET /console/{asset+} is one file of it.
    path = ((event.get("pathParameters") or {}).get("asset") or "").strip()
    headers = event.get("headers") or {}
    return serve(path, headers.get("if-none-match"))
