"""Typed shapes of what Retell sends (reference/retell.md), parsed leniently.

Unknown fields are ignored (Retell adds fields over time); the fields we rely on are typed, and
a failure names the field so the HTTP answer can say what is wrong.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calbridge.errors import InvalidRequest

T = TypeVar("T", bound=BaseModel)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class InboundCall(_Lenient):
    from_number: str = Field(min_length=1)
    to_number: str = Field(min_length=1)
    agent_id: str | None = None
    call_id: str | None = None


class InboundRequest(_Lenient):
    event: Literal["call_inbound"]
    call_inbound: InboundCall


class CallMetadata(_Lenient):
    """What our inbound answer stored on the call; the only source of the tenant."""

    company_id: str | None = None
    branch_id: str | None = None


class Call(_Lenient):
    call_id: str = Field(min_length=1)
    from_number: str | None = None
    to_number: str | None = None
    direction: str | None = None
    metadata: CallMetadata = CallMetadata()


class ToolCallRequest(_Lenient):
    name: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    call: Call


def parse_json(raw_body: bytes) -> Any:
    if not raw_body.strip():
        raise InvalidRequest("the request body is empty", field="body")
    try:
        return json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}", field="body") from exc


def parse_model[T: BaseModel](model: type[T], data: Any, *, at: str = "") -> T:
    """Validate `data` as `model`; the first problem becomes an InvalidRequest naming its field.

    `at` prefixes the field path when `data` sits inside the body (e.g. "args").
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join([at, *(str(part) for part in first["loc"])] if at else map(str, first["loc"]))
        field = field or at or "body"
        raise InvalidRequest(f"{field}: {first['msg']}", field=field) from exc
