"""The Retell agent kit (docs/agent/, docs/retell-agent.md) is what Retell accepts and what calbridge
answers: the LLM and agent bodies are checked against retell-sdk's own request types (the
TypedDicts of `create-retell-llm` and `create-agent`, retell-sdk 6.2.13), every custom tool's
parameters against the argument models of our tool layer (services/tools.py), and the prompts
against the tools and the dynamic variables the inbound answer sets."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel, TypeAdapter
from retell.types.agent_create_params import AgentCreateParams, ResponseEngineResponseEngineRetellLm
from retell.types.llm_create_params import (
    GeneralToolCustomTool,
    GeneralToolCustomToolParameters,
    GeneralToolEndCallTool,
    LlmCreateParams,
)

from calbridge.domain.models import Language
from tests.conftest import REPO

KIT = REPO / "docs" / "agent"
GUIDE = REPO / "docs" / "retell-agent.md"
LANGUAGES = ("de", "en")
# Retell's agent `language` per company language (calbridge answers in the company's language).
RETELL_LANGUAGE = {"de": "de-DE", "en": "en-US"}

# What each tool's handler parses its args with (services/tools.py).
ARGS_MODEL = {
    "get_service_info": "ServiceInfoArgs",
    "list_staff": "StaffArgs",
    "check_availability": "AvailabilityArgs",
    "book_appointment": "BookingArgs",
    "cancel_appointment": "FindAppointmentArgs",
    "reschedule_appointment": "RescheduleArgs",
}
# docs/retell-agent.md: below API Gateway's 30 s; a booking workflow gets more than a read.
TIMEOUT_MS = {"read": 8000, "change": 12000}
# A value a caller could say for each argument, to run the kit's arguments through the models.
SAMPLE = {
    "service": "Damenhaarschnitt",
    "date": "nächsten Dienstag",
    "time": "halb drei",
    "mitarbeiter": "Fabian",
    "customer_name": "Anna Becker",
    "customer_phone": "+49 151 2345 6789",
    "customer_email": "anna.becker@example.com",
    "confirmation_code": "K7M2QX",
    "new_date": "2026-11-24",
    "new_time": "14:00",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((KIT / name).read_text(encoding="utf-8"))


def conforms(typed_dict: Any, body: dict[str, Any]) -> None:
    """`body` is a valid `typed_dict` of the SDK, and has no key the SDK does not know (pydantic
    ignores unknown keys of a TypedDict, Retell's API would too: a misspelt setting is lost)."""
    unknown = set(body) - set(typed_dict.__required_keys__) - set(typed_dict.__optional_keys__)
    assert not unknown, f"{typed_dict.__name__} has no {sorted(unknown)}"
    TypeAdapter(typed_dict).validate_python(body)


def custom_tools(llm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tool["name"]: tool for tool in llm["general_tools"] if tool["type"] == "custom"}


def accepted_names(model: type[BaseModel], field: str) -> set[str]:
    alias = model.model_fields[field].validation_alias
    return {field, *(alias.choices if isinstance(alias, AliasChoices) else [])}


@pytest.fixture(scope="module")
def tools(stack) -> Any:
    """The tool layer; importing it reads the stack's configuration (table names, secrets)."""
    return importlib.import_module("calbridge.services.tools")


@pytest.fixture(scope="module")
def args_models(tools) -> dict[str, type[BaseModel]]:
    return {name: getattr(tools, model) for name, model in ARGS_MODEL.items()}


@pytest.fixture(params=LANGUAGES)
def lang(request) -> str:
    return request.param


def test_the_llm_is_a_create_retell_llm_body(lang):
    llm = load(f"retell-llm.{lang}.json")
    conforms(LlmCreateParams, {**llm, "general_tools": []})
    assert llm["start_speaker"] == "agent"
    for tool in llm["general_tools"]:
        conforms(GeneralToolCustomTool if tool["type"] == "custom" else GeneralToolEndCallTool, tool)
    names = [tool["name"] for tool in llm["general_tools"]]
    assert len(names) == len(set(names)), "tool names must be unique"
    assert [t for t in llm["general_tools"] if t["type"] == "end_call"], "Retell's end_call tool is missing"


def test_every_tool_of_the_tool_layer_is_defined_and_nothing_else(lang, tools):
    assert set(custom_tools(load(f"retell-llm.{lang}.json"))) == set(ARGS_MODEL)
    assert set(ARGS_MODEL) >= tools.CHANGING_TOOLS


def test_the_custom_tools_call_calbridge_as_documented(lang, tools):
    for name, tool in custom_tools(load(f"retell-llm.{lang}.json")).items():
        assert tool["url"].endswith("/retell/functions"), name
        assert tool["method"] == "POST", name
        assert tool["args_at_root"] is False, f"{name}: calbridge reads the call object next to the args"
        changing = name in tools.CHANGING_TOOLS
        expected = TIMEOUT_MS["change" if changing else "read"]
        assert tool["timeout_ms"] == expected, name
        assert tool["max_retry"] <= 1, f"{name}: a retry is replayed, but each costs a timeout_ms"
        assert tool["speak_after_execution"] is True, f"{name}: the agent must say the answer"
        if tool["speak_during_execution"]:
            assert tool["execution_message_type"] == "static_text" and tool["execution_message_description"]
        # A filler where the caller would otherwise wait in silence: the calendar and the booking workflows.
        assert tool["speak_during_execution"] is (changing or name == "check_availability"), name


def test_each_tools_parameters_are_the_arguments_its_model_accepts(lang, args_models):
    for name, tool in custom_tools(load(f"retell-llm.{lang}.json")).items():
        model, schema = args_models[name], tool["parameters"]
        conforms(GeneralToolCustomToolParameters, schema)
        properties = schema["properties"]
        for prop, spec in properties.items():
            assert spec["type"] == "string" and spec["description"], f"{name}.{prop}"
        # Every argument the model reads is offered, under its own name, and nothing else.
        assert set(properties) == set(model.model_fields), name
        for field in model.model_fields:
            assert field in accepted_names(model, field)
        required = {field for field, info in model.model_fields.items() if info.is_required()}
        assert set(schema.get("required", [])) == required, name
        # What the LLM fills in reaches the tool layer: every argument is read, none ignored.
        args = model.model_validate({prop: SAMPLE[prop] for prop in properties})
        assert args.model_fields_set == set(properties), name


def test_the_agent_is_a_create_agent_body_in_the_companys_language(lang):
    agent = load(f"agent.{lang}.json")
    conforms(AgentCreateParams, agent)
    conforms(ResponseEngineResponseEngineRetellLm, agent["response_engine"])
    assert lang in Language.__args__
    assert agent["language"] == RETELL_LANGUAGE[lang]
    assert agent["webhook_url"].endswith("/retell/events")
    assert set(agent["webhook_events"]) == {"call_started", "call_ended", "call_analyzed"}


def test_the_prompts_name_every_tool_and_the_rules_of_the_tool_layer(lang):
    llm = load(f"retell-llm.{lang}.json")
    prompt = llm["general_prompt"]
    for tool in llm["general_tools"]:
        assert tool["name"] in prompt, f"the {lang} prompt never mentions {tool['name']}"
    for rule in ("YYYY-MM-DD", "HH:MM", "`message`", "confirmation_code", "in_progress", "mitarbeiter"):
        assert rule in prompt, f"the {lang} prompt misses {rule}"


def test_the_prompts_use_only_the_variables_the_inbound_answer_sets(stack, retell, lang):
    answer = retell.inbound("+4915112345678", "+4930123456789")
    assert answer.status_code == 200
    variables = set(answer.json()["call_inbound"]["dynamic_variables"])
    llm = load(f"retell-llm.{lang}.json")
    used = set(re.findall(r"\{\{\s*([\w/]+)\s*\}\}", llm["general_prompt"] + llm["begin_message"]))
    assert used and used <= variables, f"set by nothing: {sorted(used - variables)}"


def test_the_guide_shows_the_kits_prompts_and_settings(lang):
    guide = GUIDE.read_text(encoding="utf-8")
    prompt = load(f"retell-llm.{lang}.json")["general_prompt"]
    assert f"```text\n{prompt}\n```" in guide, f"docs/retell-agent.md does not show the kit's {lang} prompt"
    assert f"docs/agent/retell-llm.{lang}.json" in guide or f"agent/retell-llm.{lang}.json" in guide
    assert RETELL_LANGUAGE[lang] in guide
    assert "end_call" in guide


def test_the_tools_the_guide_shows_to_paste_are_the_kits():
    guide = GUIDE.read_text(encoding="utf-8")
    shown = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", guide, re.S)]
    assert shown == list(custom_tools(load("retell-llm.de.json")).values())


def test_the_kit_files_are_plain_json_without_secrets():
    for path in sorted(Path(KIT).glob("*.json")):
        text = path.read_text(encoding="utf-8")
        json.loads(text)
        assert not re.search(r"key_[0-9a-f]{16,}|cal_live_", text), path.name
