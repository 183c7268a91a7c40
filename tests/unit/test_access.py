"""Who may access which company (domain/access.py): IAM callers are operators; a console user is
scoped by the ID token's company claim, or is an operator by group."""

from __future__ import annotations

import pytest

from calbridge.domain.access import NotAPrincipal, console_principal, iam_principal

ID_TOKEN = {"token_use": "id", "email": "admin@salon-demo.example", "custom:company_id": "salon-demo"}


def test_a_salon_admin_may_access_their_company_only():
    admin = console_principal(ID_TOKEN)
    assert admin.actor == "console:admin@salon-demo.example" and admin.via == "console"
    assert admin.may_access("salon-demo")
    assert not admin.may_access("studio-west") and not admin.may_access("")


@pytest.mark.parametrize("groups", ["[operators]", "[admins operators]", ["operators"], "operators"])
def test_operators_by_group_as_api_gateway_or_a_raw_token_passes_it(groups):
    operator = console_principal({**ID_TOKEN, "cognito:groups": groups})
    assert operator.operator and operator.company_id is None
    assert operator.may_access("salon-demo") and operator.may_access("studio-west")


def test_a_group_that_merely_contains_the_word_is_no_operator():
    user = console_principal({**ID_TOKEN, "cognito:groups": "[operators-readonly]"})
    assert not user.operator and not user.may_access("studio-west")


@pytest.mark.parametrize(
    "claims, why",
    [
        ({**ID_TOKEN, "token_use": "access"}, "ID token"),
        ({k: v for k, v in ID_TOKEN.items() if k != "custom:company_id"}, "no company"),
        ({**ID_TOKEN, "custom:company_id": "  "}, "no company"),
        ({"token_use": "id", "custom:company_id": "salon-demo"}, "names no user"),
    ],
)
def test_tokens_calbridge_cannot_scope_are_refused(claims, why):
    with pytest.raises(NotAPrincipal, match=why):
        console_principal(claims)


def test_an_iam_caller_is_an_operator_named_by_arn():
    caller = iam_principal("arn:aws:iam::123456789012:user/admin-alice")
    assert caller.operator and caller.actor.endswith("user/admin-alice") and caller.may_access("any")
