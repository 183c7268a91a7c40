"""Request bodies and payloads into models: every protocol problem becomes an InvalidRequest that
names its field (HTTP 400 in the handlers, a failed step in the state machines)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from calbridge.errors import InvalidRequest


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
