"""Typed shapes of what Retell sends (docs/reference/retell.md), parsed leniently.

Unknown fields are ignored (Retell adds fields over time); the fields we rely on are typed, and
a failure names the field so the HTTP answer can say what is wrong.
"""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from calbridge.adapters.parsing import parse_model
from calbridge.errors import InvalidRequest


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


# Call webhooks (docs/reference/retell.md §1.2): the lifecycle events calbridge records. The others
# Retell can send (opt-in extras, chat agents, ones added later) are acknowledged, not recorded.
CallLifecycleEvent = Literal["call_started", "call_ended", "call_analyzed"]
CALL_LIFECYCLE_EVENTS = frozenset(get_args(CallLifecycleEvent))


class CallAnalysis(_Lenient):
    call_summary: str | None = None
    user_sentiment: str | None = None
    call_successful: bool | None = None
    in_voicemail: bool | None = None


class LifecycleCall(Call):
    """The call object of a lifecycle webhook; only call_id is sure to be there."""

    agent_id: str | None = None
    start_timestamp: int | None = Field(default=None, ge=0)  # ms since the epoch
    end_timestamp: int | None = Field(default=None, ge=0)
    duration_ms: int | None = Field(default=None, ge=0)
    disconnection_reason: str | None = None
    call_analysis: CallAnalysis | None = None  # call_analyzed only


class CallEventRequest(_Lenient):
    event: CallLifecycleEvent
    call: LifecycleCall


def webhook_event_name(data: Any) -> str:
    """The event of a call webhook (`event`, or `event_type` as one Retell doc page spells it).

    InvalidRequest when it is missing or not a name. Any other name is returned as it is: Retell
    adds event types (transcript_updated, transfer_*, chat_*, ...) and the caller acknowledges
    those it does not record instead of making Retell redeliver them.
    """
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object", field="body")
    name = data.get("event", data.get("event_type"))
    if name is None:
        raise InvalidRequest("event is missing", field="event")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest(f"event must be a non-empty string, not {name!r}", field="event")
    return name


def parse_call_event(data: dict[str, Any]) -> CallEventRequest:
    """A lifecycle webhook; the call is `call` (or `data`, Retell's deprecated name for it)."""
    call = data.get("call", data.get("data"))
    envelope = {"event": webhook_event_name(data)} | ({} if call is None else {"call": call})
    return parse_model(CallEventRequest, envelope)
