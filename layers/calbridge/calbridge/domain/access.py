"""Who calls the admin API, and which companies they may read and change (docs/adr/0037-console.md).

Two kinds of caller reach the same routes: automation through IAM (`/admin/...`, SigV4; an
operator by definition) and the console's users through Cognito (`/console/api/...`, an ID token
API Gateway's JWT authorizer has verified). A console user belongs to the one company of their
`custom:company_id` attribute, or to the `operators` group, which sees every company.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

OPERATORS_GROUP = "operators"


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    actor: str  # who the audit records name
    company_id: str | None = None  # the one company of a console user; None for an operator
    operator: bool = False
    via: str  # "iam" or "console"

    def may_access(self, company_id: str) -> bool:
        return self.operator or self.company_id == company_id


class NotAPrincipal(ValueError):
    """The request's identity names nobody calbridge knows how to scope."""


def iam_principal(user_arn: str) -> Principal:
    return Principal(actor=user_arn, operator=True, via="iam")


def console_principal(claims: dict[str, Any]) -> Principal:
    """A console user from the ID token's claims, as API Gateway's JWT authorizer passes them: every
    value a string, a list such as `cognito:groups` flattened to "[a b]" (AWS: "Working with JWT
    authorizers"); the raw list form is accepted too."""
    if claims.get("token_use") != "id":
        raise NotAPrincipal("the console API takes the Cognito ID token (token_use id)")
    who = str(claims.get("email") or claims.get("cognito:username") or claims.get("sub") or "").strip()
    if not who:
        raise NotAPrincipal("the token names no user")
    groups = claims.get("cognito:groups") or []
    if isinstance(groups, str):
        groups = groups.strip("[]").replace(",", " ").split()
    operator = OPERATORS_GROUP in groups
    company = str(claims.get("custom:company_id") or "").strip() or None
    if not operator and company is None:
        raise NotAPrincipal(
            "this console user belongs to no company; ask an operator to set custom:company_id"
        )
    return Principal(
        actor=f"console:{who}", company_id=None if operator else company, operator=operator, via="console"
    )
