import json
from pathlib import Path

import pytest

from calbridge.adapters.parsing import parse_json, parse_model
from calbridge.adapters.retell.payloads import InboundRequest, ToolCallRequest
from calbridge.errors import InvalidRequest

FIXTURES = Path(__file__).parents[1] / "fixtures/retell"


def test_reference_inbound_request_parses():
    request = parse_model(InboundRequest, json.loads((FIXTURES / "call_inbound_request.json").read_text()))
    assert request.call_inbound.to_number == "+493012345670"


def test_reference_tool_call_parses_and_ignores_unknown_fields():
    data = json.loads((FIXTURES / "custom_function_book_appointment_request.json").read_text())
    request = parse_model(ToolCallRequest, data)
    assert request.name == "book_appointment"
    assert request.call.call_id == "call_7f3c2a9e41b84d0c9a1e5b6d2f"
    assert request.call.metadata.company_id is None  # the reference uses tenant_id; we set company_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"   ", "body"),
        (b"{not json", "body"),
        (b"\xff\xfe", "body"),
    ],
)
def test_unparsable_bodies_name_the_body(body, field):
    with pytest.raises(InvalidRequest) as exc:
        parse_json(body)
    assert exc.value.field == field


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "get_service_info", "args": "[1]", "call": {"call_id": "c"}}, "args"),
        ({"name": "get_service_info", "args": "{not json", "call": {"call_id": "c"}}, "args"),
        ({"name": "get_service_info", "args": 7, "call": {"call_id": "c"}}, "args"),
        ({"name": "get_service_info", "args": {}}, "call"),
        ({"name": "get_service_info", "args": {}, "call": {"call_id": 7}}, "call.call_id"),
        ({"name": "", "args": {}, "call": {"call_id": "c"}}, "name"),
        ({"name": "x", "call": {"call_id": "c", "metadata": "salon-demo"}}, "call.metadata"),
        ([1, 2], ""),
    ],
)
def test_wrong_fields_are_named(data, field):
    with pytest.raises(InvalidRequest) as exc:
        parse_model(ToolCallRequest, data)
    assert (exc.value.field or "") in (field, "body")
    if field:
        assert exc.value.field == field


def test_args_given_as_a_json_string_holding_an_object_are_accepted():
    data = {"name": "get_service_info", "args": '{"service": "Föhnen"}', "call": {"call_id": "c"}}
    assert parse_model(ToolCallRequest, data).args == {"service": "Föhnen"}


def test_inbound_requires_the_event_name():
    with pytest.raises(InvalidRequest) as exc:
        parse_model(
            InboundRequest,
            {"event": "call_started", "call_inbound": {"from_number": "+1", "to_number": "+2"}},
        )
    assert exc.value.field == "event"
