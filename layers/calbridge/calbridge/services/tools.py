"""Retell tool calls: the tenant comes from the signed call metadata, never from LLM-filled args."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from calbridge.adapters.retell.payloads import ToolCallRequest, parse_model
from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
from calbridge.domain import phrasing
from calbridge.domain.models import Company, Service
from calbridge.domain.text import lookup
from calbridge.errors import InvalidRequest
from calbridge.observability import logger


class ToolResult(BaseModel):
    """What the agent gets back: `message` is spoken, `data` is for the LLM's reasoning."""

    success: bool
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class _Args(BaseModel):
    # LLM-filled; extra keys (e.g. a smuggled company_id) are ignored, not trusted.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class ServiceInfoArgs(_Args):
    service: str | None = Field(default=None, validation_alias=AliasChoices("service", "service_name"))


ToolHandler = Callable[[Company, dict[str, Any]], ToolResult]


class ToolCalls:
    def __init__(
        self, companies: CompanyRepository, staff: StaffRepository, services: ServiceRepository
    ) -> None:
        self._companies = companies
        self._staff = staff
        self._services = services
        self._tools: dict[str, ToolHandler] = {"get_service_info": self.get_service_info}

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def handle(self, request: ToolCallRequest) -> ToolResult:
        company_id = request.call.metadata.company_id
        if not company_id:
            raise InvalidRequest(
                "call.metadata.company_id is missing: the call was not routed by /retell/inbound",
                field="call.metadata.company_id",
            )
        tool = self._tools.get(request.name)
        if tool is None:
            raise InvalidRequest(
                f"unknown tool {request.name!r}; known tools: {', '.join(self.names)}", field="name"
            )
        company = self._companies.get(company_id)
        logger.info("tool call", tool=request.name, company_id=company_id, call_id=request.call.call_id)
        return tool(company, request.args)

    def get_service_info(self, company: Company, raw_args: dict[str, Any]) -> ToolResult:
        args = parse_model(ServiceInfoArgs, raw_args, at="args")
        lang = company.language
        services = self._services.list(company.company_id)
        if not args.service:
            return ToolResult(
                success=True,
                message=phrasing.list_services(services, lang),
                data={"services": [self._service_data(s) for s in services]},
            )
        found = lookup(services, args.service, lambda s: s.name)
        if found.match is not None:
            staff = {m.staff_id: m.name for m in self._staff.list(company.company_id)}
            names = [staff[i] for i in found.match.staff_ids if i in staff]
            return ToolResult(
                success=True,
                message=phrasing.describe_service(found.match, names, lang),
                data={"service": self._service_data(found.match, names)},
            )
        if found.ambiguous:
            return ToolResult(
                success=False,
                message=phrasing.which_service(found.candidates, lang),
                data={"error": "ambiguous_service", "candidates": [s.name for s in found.candidates]},
            )
        return ToolResult(
            success=False,
            message=phrasing.unknown_service(args.service, services, lang),
            data={"error": "unknown_service", "services": [s.name for s in services]},
        )

    @staticmethod
    def _service_data(service: Service, staff_names: list[str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "service_id": service.service_id,
            "name": service.name,
            "duration_minutes": service.duration,
            "price": None if service.price_cents is None else service.price_cents / 100,
            "currency": service.currency,
            "composite": service.composite,
        }
        if service.composite:
            data["waiting_minutes"] = service.gap_minutes
            data["segments"] = [s.model_dump() for s in service.segments]
        if staff_names is not None:
            data["staff"] = staff_names
        return data
