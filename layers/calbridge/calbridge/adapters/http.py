"""What every HTTP API handler shares: the JSON resolver, the raw body, error answers."""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from calbridge.domain.access import Principal, console_principal, iam_principal
from calbridge.errors import (
    BodyTooLarge,
    CalbridgeError,
    CalcomError,
    InvalidConfiguration,
    StoreUnavailable,
    WorkflowUnavailable,
)
from calbridge.observability import logger


def json_app(strip_prefixes: list[str] | None = None) -> APIGatewayHttpResolver:
    # Raw UTF-8 in answers: callers read German text, not \\u escapes.
    return APIGatewayHttpResolver(
        serializer=partial(json.dumps, ensure_ascii=False, separators=(",", ":")),
        strip_prefixes=strip_prefixes,  # type: ignore[arg-type]
    )


def raw_body(app: APIGatewayHttpResolver, limit_bytes: int) -> bytes:
    """The exact bytes the client sent (API Gateway base64-encodes non-text bodies)."""
    event = app.current_event
    body = event.body or ""
    raw = base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")
    if len(raw) > limit_bytes:
        raise BodyTooLarge(f"the request body exceeds {limit_bytes // 1024} KB", field="body")
    return raw


def iam_caller(app: APIGatewayHttpResolver) -> str | None:
    """The IAM principal API Gateway authenticated on an `AWS_IAM` route (userArn; callerId or
    userId as a fallback); None when the request carries none."""
    authorizer = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    iam = authorizer.get("iam") or {}
    for key in ("userArn", "callerId", "userId"):
        value = iam.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def request_principal(app: APIGatewayHttpResolver) -> Principal | None:
    """Who API Gateway authenticated: an IAM principal (`AWS_IAM` routes) or a console user (the
    JWT authorizer's verified claims); None when the request carries neither. Raises NotAPrincipal
    for a verified token calbridge cannot scope (no company, not an ID token)."""
    iam = iam_caller(app)
    if iam is not None:
        return iam_principal(iam)
    authorizer = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims")
    if isinstance(claims, dict):
        return console_principal(claims)
    return None


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": code, "message": message, **extra},
    )


def map_common_errors(app: APIGatewayHttpResolver) -> None:
    """413 for an oversized body, 503 when DynamoDB or a secret is unavailable (nothing leaks)."""

    @app.exception_handler(BodyTooLarge)
    def _too_large(exc: BodyTooLarge) -> Response:
        return error_response(413, "body_too_large", exc.message)

    # A tool call answers an unreachable Cal.com or workflow itself, in the company's language
    # (services/tools.py); one raised anywhere else is a dependency outage like the others.
    @app.exception_handler([StoreUnavailable, InvalidConfiguration, CalcomError, WorkflowUnavailable])
    def _unavailable(exc: CalbridgeError) -> Response:
        logger.exception("dependency unavailable")
        return error_response(503, "unavailable", "calbridge is temporarily unavailable")
