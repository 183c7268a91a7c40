"""The console's API (issue 15, docs/adr/0037-console.md): Cognito users through API Gateway's JWT
authorizer, each scoped to their own company; operators to every company.

Signed in as the console's pages sign in (local/console_client.py: config.json, Cognito's
USER_PASSWORD_AUTH at moto's server), through the HTTP front's JWT authorizer, to the real admin
function. One salon's admin never reads nor writes another salon's data, whichever route they try.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from local.console_client import console_api, sign_in
from local.seed import CONSOLE_PASSWORD, add_console_user
from tests.e2e.test_admin_api import IDENTITY, snapshot

DEMO_ADMIN = "admin@salon-demo.example"
OTHER_ADMIN = "admin@studio-west.example"
OPERATOR = "operator@calbridge.example"
NOBODY = "nobody@calbridge.example"  # a user an operator forgot to give a company
STUDIO = "studio-west"
STUDIO_BODY = json.loads(
    json.loads((Path(__file__).parents[2] / "events/admin_put_company.json").read_text())["body"]
)
STUDIO_STAFF = {
    "staff": [{"staff_id": "tom-hart", "name": "Tom Hart", "email": "tom.hart@studio-west.example"}]
}


@pytest.fixture
def salons(fresh):
    """The demo salon and Studio West, each with its admin; an operator; a user without company."""
    with httpx.Client(base_url=fresh.http_url, headers=IDENTITY, timeout=30) as iam:
        assert iam.put(f"/admin/companies/{STUDIO}", json=STUDIO_BODY).status_code == 201
        assert iam.post(f"/admin/companies/{STUDIO}/staff", json=STUDIO_STAFF).status_code == 200
    add_console_user(fresh, DEMO_ADMIN, "salon-demo")
    add_console_user(fresh, OTHER_ADMIN, STUDIO)
    add_console_user(fresh, OPERATOR, None)
    add_console_user(fresh, NOBODY, None)
    cognito = fresh.boto3_client("cognito-idp")  # NOBODY is no operator either
    cognito.admin_remove_user_from_group(
        UserPoolId=fresh.resources["ConsoleUserPool"], Username=NOBODY, GroupName="operators"
    )
    return fresh


def as_user(stack, email: str) -> httpx.Client:
    return console_api(stack.http_url, email, CONSOLE_PASSWORD)


def company_routes(stack) -> list[tuple[str, str]]:
    """Every admin route that names a company, as the console reaches it (method, path)."""
    routes = []
    for route in stack.routes:
        if route.function == "AdminApiFunction" and route.path.startswith("/admin/companies/{company_id}"):
            path = route.path.removeprefix("/admin").replace("{company_id}", STUDIO)
            for name in ("branch_id", "host_id", "service_id", "appointment_id", "call_id"):
                path = path.replace("{" + name + "}", "x1")
            routes.append((route.method, path))
    return sorted(routes)


def test_a_salon_admin_reaches_no_route_of_another_salon_and_changes_nothing(salons):
    routes = company_routes(salons)
    assert len(routes) >= 30  # every route of docs/admin-api.md that names a company
    before = snapshot(salons)
    with as_user(salons, DEMO_ADMIN) as demo:
        for method, path in routes:
            answer = demo.request(method, path, json={"reason": "try", "staff": [], "name": "x"})
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["error"] == "forbidden"
            assert "tom" not in answer.text.lower()
    assert snapshot(salons) == before


def test_a_salon_admin_sees_their_own_salon_only(salons):
    with as_user(salons, DEMO_ADMIN) as demo:
        me = demo.get("/me").json()
        assert me["user"] == DEMO_ADMIN and me["operator"] is False and me["company_id"] == "salon-demo"
        assert [c["company_id"] for c in me["companies"]] == ["salon-demo"]
        assert me["companies"][0]["timezone"] == "Europe/Berlin"
        assert [c["company_id"] for c in demo.get("/companies").json()["companies"]] == ["salon-demo"]
        staff = demo.get("/companies/salon-demo/staff").json()["staff"]
        assert staff and "tom-hart" not in {s["staff_id"] for s in staff}
    with as_user(salons, OTHER_ADMIN) as other:
        staff = other.get(f"/companies/{STUDIO}/staff").json()["staff"]
        assert [s["staff_id"] for s in staff] == ["tom-hart"]
        assert other.get("/companies/salon-demo/staff").status_code == 403
        assert other.get("/companies/salon-demo/review-candidates").status_code == 403


def test_the_console_day_is_the_salons_today_by_the_stacks_clock(salons):
    """The pages default to `today` from /me: the tests pin the stack's clock, not the browser's."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    with as_user(salons, OPERATOR) as operator:
        me = operator.get("/me").json()
    today = {c["company_id"]: c["today"] for c in me["companies"]}
    now = datetime.now(UTC)
    assert today == {
        "salon-demo": now.astimezone(ZoneInfo("Europe/Berlin")).date().isoformat(),
        STUDIO: now.astimezone(ZoneInfo("Europe/London")).date().isoformat(),
    }


def test_an_operator_opens_every_salon(salons):
    with as_user(salons, OPERATOR) as operator:
        me = operator.get("/me").json()
        assert me["operator"] is True and me["company_id"] is None
        assert [c["company_id"] for c in me["companies"]] == ["salon-demo", STUDIO]
        assert operator.get(f"/companies/{STUDIO}/staff").status_code == 200
        assert operator.get("/companies/salon-demo/staff").status_code == 200


def test_a_user_without_a_company_is_refused_everything(salons):
    with as_user(salons, NOBODY) as nobody:
        for path in ("/me", "/companies", "/companies/salon-demo/staff"):
            answer = nobody.get(path)
            assert answer.status_code == 403 and "no company" in answer.json()["message"], path


def test_a_console_change_is_audited_under_the_users_name(salons):
    with as_user(salons, DEMO_ADMIN) as demo:
        linked = demo.post(
            "/companies/salon-demo/host-mappings",
            json={"host_id": 1420211, "staff_id": "lena-mueller", "reason": "Lena Muller is Lena Müller"},
        )
        assert linked.status_code == 201, linked.text
        trail = demo.get("/companies/salon-demo/host-mappings/1420211/audit").json()["audit"]
    assert [(a["action"], a["changed_by"]) for a in trail] == [("created", f"console:{DEMO_ADMIN}")]


# ------------------------------------------------------------------ API Gateway's JWT authorizer


def _moto_signed(claims: dict) -> str:
    """A token signed with the pool's own key (moto's), so only its claims can be wrong."""
    import gzip
    from importlib.resources import files

    private = json.loads(
        gzip.decompress(files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes())
    )
    key = KeySet.import_key_set({"keys": [private]}).keys[0]
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _claims(stack, **changes) -> dict:
    pool = stack.resources["ConsoleUserPool"]
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.{stack.region}.amazonaws.com/{pool}",
        "aud": stack.resources["ConsoleUserPoolClient"],
        "token_use": "id",
        "sub": str(uuid.uuid4()),
        "email": DEMO_ADMIN,
        "custom:company_id": "salon-demo",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer not-a-jwt",
        "Basic YWRtaW46cGFzc3dvcmQ=",
    ],
)
def test_the_gateway_answers_401_without_a_valid_token(salons, authorization):
    headers = {} if authorization is None else {"authorization": authorization}
    answer = httpx.get(f"{salons.http_url}/console/api/me", headers=headers)
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})


@pytest.mark.parametrize(
    "change",
    [
        {"exp": -60},
        {"aud": "another-app-client"},
        {"iss": "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Another"},
        {"nbf": 600},
    ],
    ids=["expired", "other audience", "other issuer", "not yet valid"],
)
def test_the_gateway_refuses_a_token_with_wrong_claims(salons, change):
    now = int(time.time())  # the pinned clock: times are relative to it
    change = {k: now + v if k in ("exp", "nbf") else v for k, v in change.items()}
    change = {
        k: (v if k not in ("exp", "nbf") else int(time.time()) + (v - int(time.time())))
        for k, v in change.items()
    }
    assert (
        httpx.get(
            f"{salons.http_url}/console/api/me",
            headers={"authorization": f"Bearer {_moto_signed(_claims(salons))}"},
        ).status_code
        == 200
    )  # the same token, but right, passes
    answer = httpx.get(
        f"{salons.http_url}/console/api/me",
        headers={"authorization": f"Bearer {_moto_signed(_claims(salons, **change))}"},
    )
    assert answer.status_code == 401


def test_a_token_whose_claims_were_edited_fails_its_signature(salons):
    token = sign_in(salons.http_url, DEMO_ADMIN, CONSOLE_PASSWORD)["IdToken"]
    header, payload, signature = token.split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["custom:company_id"] = STUDIO
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    answer = httpx.get(
        f"{salons.http_url}/console/api/companies/{STUDIO}/staff",
        headers={"authorization": f"Bearer {header}.{forged}.{signature}"},
    )
    assert answer.status_code == 401


def test_the_access_token_is_not_the_console_token(salons):
    """API Gateway lets an access token of the app client through (its client_id claim); calbridge
    scopes only by the ID token, which carries the company."""
    tokens = sign_in(salons.http_url, DEMO_ADMIN, CONSOLE_PASSWORD)
    answer = httpx.get(
        f"{salons.http_url}/console/api/me", headers={"authorization": f"Bearer {tokens['AccessToken']}"}
    )
    assert answer.status_code == 403 and "ID token" in answer.json()["message"]


def test_a_wrong_password_is_refused_by_cognito(salons):
    from local.console_client import SignInRefused

    with pytest.raises(SignInRefused, match="NotAuthorizedException"):
        sign_in(salons.http_url, DEMO_ADMIN, "not-the-password")


def test_the_iam_door_is_unchanged(salons):
    """Automation keeps its IAM routes; a bearer token does not open them."""
    token = sign_in(salons.http_url, DEMO_ADMIN, CONSOLE_PASSWORD)["IdToken"]
    refused = httpx.get(
        f"{salons.http_url}/admin/companies/salon-demo/staff", headers={"authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403
    with httpx.Client(base_url=salons.http_url, headers=IDENTITY) as iam:
        assert [c["company_id"] for c in iam.get("/admin/companies").json()["companies"]] == [
            "salon-demo",
            STUDIO,
        ]


# ------------------------------------------------------------------ the console's files


def test_the_console_page_and_its_files_are_served_with_a_strict_policy(stack):
    page = httpx.get(f"{stack.http_url}/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and stack.moto_url in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    script = httpx.get(f"{stack.http_url}/console/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    again = httpx.get(f"{stack.http_url}/console/app.js", headers={"if-none-match": script.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_console_config_names_the_user_pool_and_cognito(stack):
    config = httpx.get(f"{stack.http_url}/console/config.json").json()
    assert config == {
        "region": stack.region,
        "user_pool_id": stack.resources["ConsoleUserPool"],
        "client_id": stack.resources["ConsoleUserPoolClient"],
        "cognito_endpoint": f"{stack.moto_url}/",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/console/../template.yaml",
        "/console/%2e%2e/app.py",
        "/console/.hidden",
        "/console/nope.js",
        "/console/app.py",
    ],
)
def test_nothing_but_the_console_files_is_served(stack, path):
    answer = httpx.get(f"{stack.http_url}{path}")
    assert answer.status_code == 404


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("PUT", "", STUDIO_BODY),
        ("PATCH", "", {"name": "Salon Demo Deluxe"}),
        ("PUT", "/branches/kreuzberg", {"name": "Kreuzberg", "phone_numbers": ["+4930765432199"]}),
        ("DELETE", "/branches/berlin-mitte", None),
        ("POST", "/deactivate", {"reason": "closing"}),
        ("POST", "/activate", {"reason": "open"}),
        ("PUT", "/calcom-credential", {"api_key": "cal_live_0123456789abcdef"}),
        ("DELETE", "/calcom-credential", {"reason": "back"}),
        ("PATCH", "/settings", {"retell_agent_ids": ["agent_of_another_salon"]}),
    ],
)
def test_routing_and_the_calcom_key_are_for_operators_even_in_ones_own_salon(salons, method, path, body):
    """Numbers, agents, branches, the team, the key: a salon's admin could claim a free number or
    another salon's new agent id; only an operator changes them (ADR 0037)."""
    before = snapshot(salons)
    with as_user(salons, DEMO_ADMIN) as demo:
        answer = demo.request(method, f"/companies/salon-demo{path}", json=body)
    assert answer.status_code == 403, answer.text
    assert "operator" in answer.json()["message"]
    assert snapshot(salons) == before


def test_a_salon_admin_changes_their_settings_and_an_operator_the_agents(salons):
    with as_user(salons, DEMO_ADMIN) as demo:
        changed = demo.patch("/companies/salon-demo/settings", json={"booking_window_days": 90})
        assert changed.status_code == 200 and changed.json()["changed"] == ["booking_window_days"]
        malformed = demo.patch(
            "/companies/salon-demo/settings", content=b"{oops", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400 and malformed.json()["field"] == "body"
    with as_user(salons, OPERATOR) as operator:
        agents = operator.patch("/companies/salon-demo/settings", json={"retell_agent_ids": ["agent_new"]})
        assert agents.status_code == 200, agents.text
        assert operator.patch(f"/companies/{STUDIO}", json={"name": "Studio West Ltd"}).status_code == 200
