"""Whose call is it: the one place that turns a Retell call into a company (and maybe a branch).

Only signed call data counts, never what the LLM fills into a tool's arguments
(docs/reference/retell.md "Essentials" 7, docs/adr/0015-tenant-of-a-call.md), in this order:

1. `call.metadata.company_id`: our own answer to /retell/inbound put it there, with the branch;
2. `call.agent_id`: the company whose `retell_agent_ids` name the agent. Calls that never pass
   /retell/inbound (Retell's dashboard test calls, web calls) carry no metadata;
3. for an inbound phone call, the dialled number's route (company and branch).

Tool calls and lifecycle webhooks both ask here, so a call belongs to the same company on both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from calbridge.adapters.retell.payloads import Call
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.domain.models import Company

RoutedBy = Literal["metadata", "agent_id", "dialled_number"]


class Tenant(BaseModel):
    """The company a call belongs to; the branch when the call says (metadata, dialled number)."""

    model_config = ConfigDict(frozen=True)

    company: Company
    branch_id: str | None
    routed_by: RoutedBy


class CallTenancy:
    def __init__(self, companies: CompanyRepository) -> None:
        self._companies = companies

    def tenant_of(self, call: Call) -> Tenant | None:
        """The call's company, or None when nothing in the call routes to one.

        Metadata naming a company that does not exist raises UnknownCompany: our own inbound
        answer named it, so the company was deleted since, and no other route is guessed.
        """
        metadata = call.metadata
        if metadata.company_id:
            return Tenant(
                company=self._companies.get(metadata.company_id),
                branch_id=metadata.branch_id,
                routed_by="metadata",
            )
        if call.agent_id:
            company_id = self._companies.company_of_agent(call.agent_id)
            if company_id is not None:
                company = self._companies.get(company_id)
                # An agent serves the whole company: the branch is known only when there is one.
                only_branch = company.branches[0].branch_id if len(company.branches) == 1 else None
                return Tenant(company=company, branch_id=only_branch, routed_by="agent_id")
        if call.direction != "outbound" and call.to_number:
            route = self._companies.route_for(call.to_number)
            if route is not None:
                return Tenant(
                    company=self._companies.get(route.company_id),
                    branch_id=route.branch_id,
                    routed_by="dialled_number",
                )
        return None
