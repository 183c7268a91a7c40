"""Inbound-call routing: the dialled number decides the company and branch of the whole call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from calbridge.adapters.retell.payloads import InboundRequest
from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
from calbridge.domain.phrasing import join_names, spoken_date
from calbridge.observability import logger, metrics

if TYPE_CHECKING:
    from calbridge.services.availability import AvailabilityService

# Retell falls back to the number's own agent, with no overrides, when the answer has none.
UNKNOWN_NUMBER_ANSWER: dict[str, Any] = {"call_inbound": {}}


class InboundRouting:
    def __init__(
        self,
        companies: CompanyRepository,
        staff: StaffRepository,
        services: ServiceRepository,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        availability: Callable[[], AvailabilityService] | None = None,
    ) -> None:
        self._companies = companies
        self._staff = staff
        self._services = services
        self._clock = clock
        self._availability = availability  # who can be booked; None: everyone active

    def answer(self, request: InboundRequest) -> dict[str, Any]:
        """The `call_inbound` answer: tenant ids as metadata, prompt facts as dynamic variables."""
        route = self._companies.route_for(request.call_inbound.to_number)
        if route is None:
            logger.warning("inbound call to an unrouted number", to_number=request.call_inbound.to_number)
            metrics.add_metric(name="InboundUnknownNumber", unit=MetricUnit.Count, value=1)
            return UNKNOWN_NUMBER_ANSWER
        company = self._companies.get(route.company_id)
        if not company.active:  # switched off by an admin: the "no salon" answer, nothing deleted
            logger.info("inbound call to a deactivated company", company_id=company.company_id)
            metrics.add_metric(name="InboundCompanyInactive", unit=MetricUnit.Count, value=1)
            return UNKNOWN_NUMBER_ANSWER
        branch = company.branch(route.branch_id)
        services = self._services.list(company.company_id)
        staff = self._staff.list(company.company_id)
        if self._availability is not None:  # the agent offers only staff it can book
            bookable = self._availability().bookable_team(company, services)
            staff = [member for member in staff if member.staff_id in bookable]
        today = self._clock().astimezone(company.zone).date()
        metrics.add_metric(name="InboundRouted", unit=MetricUnit.Count, value=1)
        logger.info("inbound call routed", company_id=company.company_id, branch_id=route.branch_id)
        # Retell requires every dynamic variable to be a string.
        variables = {
            "company_name": company.name,
            "branch_id": route.branch_id,
            "branch_name": branch.name if branch else "",
            # Service names contain commas ("Ansatzfärbung, waschen, ..."): list them with "; ".
            "services": "; ".join(s.name for s in services),
            "staff_names": join_names([s.name for s in staff], company.language),
            "today": today.isoformat(),
            "today_spoken": spoken_date(today, company.language),
            "timezone": company.timezone,
            "language": company.language,
        }
        return {
            "call_inbound": {
                "metadata": {"company_id": company.company_id, "branch_id": route.branch_id},
                "dynamic_variables": variables,
            }
        }
