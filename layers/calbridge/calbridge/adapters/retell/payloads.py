"""Typed shapes of what Retell sends (docs/reference/retell.md), parsed leniently.

Unknown fields are ignored (Retell adds fields over time); the fields we rely on are typed, and
a failure names the field so the HTTP answer can say what is wrong. The handlers hand over the raw
body: only the declared fields become Python objects, so the live transcript a tool call carries
(the call object "with the transcript up to the moment of the request", retell.md §2.2) is parsed
but never walked or copied.

Every field we store or use as a key is bounded (docs/adr/0015-tenant-of-a-call.md): identifiers
longer than MAX_ID_CHARS are refused (DynamoDB refuses keys over 1024 bytes), free text is cut to
its bound in domain/calls.py and stored, and timestamps must be instants a datetime can hold.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, field_validator

from calbridge.adapters.parsing import parse_model
from calbridge.domain.calls import LABEL_MAX_CHARS, SUMMARY_MAX_CHARS
from calbridge.errors import InvalidRequest

# Retell's ids are about 32 characters (call_id, agent_id "agent_…"); ours are at most 64.
MAX_ID_CHARS = 128
# E.164 has at most 16 characters; SIP URIs in from_number are longer, but not this long.
MAX_NUMBER_CHARS = 128
# 9999-12-31T23:59:59.999Z, the last instant a Python datetime holds.
MAX_EPOCH_MS = 253_402_300_799_999


def _cut_to(limit: int) -> AfterValidator:
    return AfterValidator(lambda text: text[:limit])


Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
NumberText = Annotated[str, Field(max_length=MAX_NUMBER_CHARS)]
Label = Annotated[str, _cut_to(LABEL_MAX_CHARS)]
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class InboundCall(_Lenient):
    from_number: NumberText = Field(min_length=1)
    to_number: NumberText = Field(min_length=1)
    agent_id: Identifier | None = None
    call_id: Identifier | None = None


class InboundRequest(_Lenient):
    event: Literal["call_inbound"]
    call_inbound: InboundCall


class CallMetadata(_Lenient):
    """What our inbound answer stored on the call; the only source of the tenant."""

    company_id: Identifier | None = None
    branch_id: Identifier | None = None


class Call(_Lenient):
    call_id: Identifier
    agent_id: Identifier | None = None  # routes calls that skipped /retell/inbound (services/tenancy.py)
    from_number: NumberText | None = None
    to_number: NumberText | None = None
    direction: Label | None = None
    metadata: CallMetadata = CallMetadata()


class ToolCallRequest(_Lenient):
    name: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    call: Call

    @field_validator("args", mode="before")
    @classmethod
    def _args_as_json_text(cls, value: Any) -> Any:
        # Some LLM set-ups hand over the arguments as a JSON string (as Retell's own transcript
        # does): accepted when it holds an object; anything else fails as "args".
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise ValueError("args is a string that is not a JSON object") from exc
        if not isinstance(parsed, dict):
            raise ValueError("args is a JSON string that does not hold an object")
        return parsed

    @field_validator("args")
    @classmethod
    def _finite_numbers(cls, args: dict[str, Any]) -> dict[str, Any]:
        # The JSON parser reads NaN, Infinity and 1e400 as floats; no argument is such a number.
        # InvalidRequest passes through pydantic as it is, so the answer names the argument itself.
        for path, value in _leaves(args):
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidRequest(f"{path}: not a finite number", field=path)
        return args


def _leaves(value: Any, path: str = "args") -> list[tuple[str, Any]]:
    """(path, value) of every scalar inside the arguments (a few, shallow: the parser caps depth)."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, f"{path}.{index}")]
    return [(path, value)]


# Call webhooks (docs/reference/retell.md §1.2): the lifecycle events calbridge records. The others
# Retell can send (opt-in extras, chat agents, ones added later) are acknowledged, not recorded.
CallLifecycleEvent = Literal["call_started", "call_ended", "call_analyzed"]
CALL_LIFECYCLE_EVENTS = frozenset(get_args(CallLifecycleEvent))


class CallAnalysis(_Lenient):
    call_summary: Annotated[str, _cut_to(SUMMARY_MAX_CHARS)] | None = None
    user_sentiment: Label | None = None
    call_successful: bool | None = None
    in_voicemail: bool | None = None


class LifecycleCall(Call):
    """The call object of a lifecycle webhook; only call_id is sure to be there."""

    start_timestamp: EpochMs | None = None  # ms since the epoch
    end_timestamp: EpochMs | None = None
    duration_ms: EpochMs | None = None
    disconnection_reason: Label | None = None
    call_analysis: CallAnalysis | None = None  # call_analyzed only


# The event is `event` (or `event_type`, as one Retell doc page spells it); the call is `call` (or
# `data`, Retell's deprecated name for it).
_EVENT = AliasChoices("event", "event_type")
_CALL = AliasChoices("call", "data")


class CallEventRequest(_Lenient):
    event: CallLifecycleEvent = Field(validation_alias=_EVENT)
    call: LifecycleCall = Field(validation_alias=_CALL)


class _WebhookEnvelope(_Lenient):
    event: Any = Field(default=None, validation_alias=_EVENT)


def webhook_event_name(body: bytes | dict[str, Any]) -> str:
    """The event of a call webhook, from the raw body or its parsed JSON.

    InvalidRequest when it is missing or not a name. Any other name is returned as it is: Retell
    adds event types (transcript_updated, transfer_*, chat_*, ...) and the caller acknowledges
    those it does not record instead of making Retell redeliver them.
    """
    name = parse_model(_WebhookEnvelope, body).event
    if name is None:
        raise InvalidRequest("event is missing", field="event")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("event must be a non-empty string", field="event")
    return name


def parse_call_event(body: bytes | dict[str, Any]) -> CallEventRequest:
    """A lifecycle webhook, from the raw body or its parsed JSON."""
    return parse_model(CallEventRequest, body)
