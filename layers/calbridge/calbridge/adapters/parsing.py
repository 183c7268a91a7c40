"""Request bodies and payloads into models: every protocol problem becomes an InvalidRequest that
names its field (HTTP 400 in the handlers, a failed step in the state machines).

Hostile bodies are protocol problems too, never a crash: nesting deeper than the parser allows,
numbers longer than Python converts (4300 digits), NaN, Infinity and floats that overflow. The
messages speak of the caller's fields, never of our model or exception classes.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from calbridge.errors import InvalidRequest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# DynamoDB keeps 38 significant digits; longer integers are no quantity we accept, and refusing
# them here also keeps int()'s 4300-digit limit (a ValueError about sys internals) out of reach.
MAX_INTEGER_DIGITS = 38


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"a number has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def parse_json(raw_body: bytes) -> Any:
    """The body as Python values; deep nesting, huge or non-finite numbers are InvalidRequest."""
    if not raw_body.strip():
        raise InvalidRequest("the request body is empty", field="body")
    try:
        return json.loads(
            raw_body, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except RecursionError as exc:
        raise InvalidRequest("the request body is nested too deeply", field="body") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the request body is not UTF-8 text", field="body") from exc
    except ValueError as exc:  # JSONDecodeError, and the number checks above
        raise InvalidRequest(f"the request body is not valid JSON: {exc}", field="body") from exc


def parse_model[T: BaseModel](model: type[T], data: Any, *, at: str = "") -> T:
    """Validate `data` as `model`; the first problem becomes an InvalidRequest naming its field.

    `data` is parsed JSON, or the raw body (bytes): then pydantic reads the JSON itself and builds
    only the fields the model declares, so a megabyte transcript the model ignores costs a parse
    in Rust but no Python objects (the Retell routes). `at` prefixes the field path when `data`
    sits inside the body (e.g. "args").
    """
    try:
        if isinstance(data, bytes):
            if not data.strip():
                raise InvalidRequest("the request body is empty", field="body")
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = [at, *(str(part) for part in first["loc"])] if at else [str(part) for part in first["loc"]]
        field = ".".join(path) or at or "body"
        raise InvalidRequest(f"{field}: {in_callers_terms(first)}", field=field) from exc


# pydantic's messages name the model class ("... or instance of LifecycleCall"); the caller sent JSON.
_OBJECT_EXPECTED = frozenset({"model_type", "model_attributes_type", "dict_type", "dataclass_type"})
_INSTANCE_OF = re.compile(r" or instance of \w+")


def in_callers_terms(error: ErrorDetails) -> str:
    """A pydantic error as the caller should read it: about their JSON, not our classes."""
    kind = error["type"]
    if kind == "json_invalid":
        return f"not valid JSON ({error.get('ctx', {}).get('error', 'malformed')})"
    if kind in _OBJECT_EXPECTED:
        return "must be a JSON object"
    if kind == "missing":
        return "is missing"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return _INSTANCE_OF.sub("", message)
