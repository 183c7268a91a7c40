"""The admin API over the local stack's HTTP front, as an IAM-authenticated admin calls it.

Every test that writes runs on a freshly seeded demo salon (`fresh`) and leaves one behind: other
tests share the session stack. Host resolution goes through `stack.invoke("HostResolutionFunction")`,
the same handler the booking workflow calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

ADMIN = "arn:aws:iam::123456789012:user/admin-alice"
IDENTITY = {"x-calbridge-local-identity": ADMIN}
SALON = "/admin/companies/salon-demo"
EVENTS = Path(__file__).parents[2] / "events"

FABIAN_HOST = {"id": 1420209, "name": "Fabian Spitzer", "email": "fabian@askproai.de"}
LENA_HOST = {"id": 999001, "name": "Lena Muller", "email": "lena@askproai.de"}
NOBODY_HOST = {"id": 999002, "name": "Nobody Known"}


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def admin(stack):
    with httpx.Client(base_url=stack.http_url, headers=IDENTITY, timeout=30) as client:
        yield client


def snapshot(stack) -> dict[str, list]:
    """Every item of every table (not just counts: an upsert keeps the count)."""
    dynamodb = stack.boto3_client("dynamodb")
    tables = {}
    for name in dynamodb.list_tables()["TableNames"]:
        items = dynamodb.scan(TableName=name)["Items"]
        tables[name] = sorted(json.dumps(item, sort_keys=True) for item in items)
    return tables


@pytest.fixture
def unchanged_tables(stack):
    before = snapshot(stack)
    yield
    assert snapshot(stack) == before, "a rejected request wrote to DynamoDB"


def resolve(stack, host: dict) -> dict:
    result = stack.invoke("HostResolutionFunction", {"company_id": "salon-demo", "host": host})
    assert result.function_error is None, result.payload
    return result.json()


def staff_by_id(admin) -> dict[str, dict]:
    response = admin.get(f"{SALON}/staff")
    assert response.status_code == 200
    return {m["staff_id"]: m for m in response.json()["staff"]}


def audit(admin, host_id: int) -> list[dict]:
    response = admin.get(f"{SALON}/host-mappings/{host_id}/audit")
    assert response.status_code == 200
    return response.json()["audit"]


def map_host(admin, host_id, staff_id: str, reason: str = "checked with the salon") -> httpx.Response:
    return admin.post(
        f"{SALON}/host-mappings", json={"host_id": host_id, "staff_id": staff_id, "reason": reason}
    )


# ------------------------------------------------------------------ authorization and tenancy

ROUTES = [
    ("GET", "/staff"),
    ("POST", "/staff"),
    ("GET", "/host-mappings"),
    ("POST", "/host-mappings"),
    ("DELETE", "/host-mappings/1420209"),
    ("GET", "/host-mappings/1420209/audit"),
    ("GET", "/review-candidates"),
    ("GET", "/unmapped-hosts"),
    ("GET", "/settings"),
    ("PATCH", "/settings"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_an_iam_identity(stack, unchanged_tables, method, path):
    body = {"host_id": 1420209, "staff_id": "lena-mueller", "reason": "no identity"}
    response = httpx.request(method, f"{stack.http_url}{SALON}{path}", json=body)
    assert response.status_code == 403


def test_the_handler_refuses_an_event_without_iam_identity(stack, unchanged_tables):
    """Defence in depth: were the route's IAM auth ever removed, the handler still refuses."""
    event = json.loads((EVENTS / "admin_create_mapping.json").read_text(encoding="utf-8"))
    del event["requestContext"]["authorizer"]
    response = stack.invoke("AdminApiFunction", event).json()
    assert response["statusCode"] == 403
    assert json.loads(response["body"])["error"] == "forbidden"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/staff", None),
        ("POST", "/staff", {"staff": [{"staff_id": "x", "name": "X"}]}),
        ("GET", "/host-mappings", None),
        ("POST", "/host-mappings", {"host_id": 1420209, "staff_id": "lena-mueller", "reason": "r"}),
        ("DELETE", "/host-mappings/1420209", {"reason": "r"}),
        ("GET", "/host-mappings/1420209/audit", None),
        ("GET", "/review-candidates", None),
        ("GET", "/unmapped-hosts", None),
        ("GET", "/settings", None),
        ("PATCH", "/settings", {"sync_repair_drift": True}),
    ],
)
def test_unknown_company_is_404(admin, unchanged_tables, method, path, body):
    response = admin.request(method, f"/admin/companies/no-such-salon{path}", json=body)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_company"


# ------------------------------------------------------------------ staff


def test_list_staff_shows_every_member_with_an_active_flag(admin):
    staff = staff_by_id(admin)
    assert set(staff) == {"fabian-spitzer", "emma-williams", "lena-mueller", "sara-oezdemir"}
    assert staff["fabian-spitzer"] == {
        "staff_id": "fabian-spitzer",
        "name": "Fabian Spitzer",
        "email": "fabian@askproai.de",
        "other_emails": [],
        "calcom_user_id": 1420209,
        "calcom_username": "fabianaskproai",
        "active": True,
    }
    assert all("company_id" not in m for m in staff.values())


def test_json_import_creates_and_updates(admin, fresh):
    body = {
        "staff": [
            {"staff_id": "nina-braun", "name": "Nina Braun", "email": "Nina.Braun@Salon-Demo.de"},
            {
                "staff_id": "sara-oezdemir",
                "name": "Sara Özdemir",
                "email": "sara@salon-demo.de",
                "active": False,
            },
            {"staff_id": "lena-mueller", "name": "Lena Müller", "email": "lena.mueller@salon-demo.de"},
        ]
    }
    response = admin.post(f"{SALON}/staff", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 3, "created": 1, "updated": 1, "unchanged": 1}
    staff = staff_by_id(admin)
    assert len(staff) == 5
    assert staff["nina-braun"]["email"] == "nina.braun@salon-demo.de" and staff["nina-braun"]["active"]
    assert staff["sara-oezdemir"]["active"] is False
    assert staff["fabian-spitzer"]["calcom_user_id"] == 1420209, "members not in the import are untouched"


def test_csv_import(admin, fresh):
    csv = (
        "staff_id,name,active,other_emails,email,calcom_user_id,calcom_username\r\n"
        'tom-weber,"Weber, Tom",no,tom.weber@askproai.de; tw@gmail.example,'
        "tom@salon-demo.de,1420299,tomweber\r\n"
        "\r\n"
        "emma-williams,Emma Williams,yes,,emma.williams@salon-demo.de,,\r\n"
    )
    response = admin.post(f"{SALON}/staff", content=csv.encode(), headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 2, "created": 1, "updated": 1, "unchanged": 0}
    staff = staff_by_id(admin)
    assert staff["tom-weber"] == {
        "staff_id": "tom-weber",
        "name": "Weber, Tom",
        "email": "tom@salon-demo.de",
        "other_emails": ["tom.weber@askproai.de", "tw@gmail.example"],
        "calcom_user_id": 1420299,
        "calcom_username": "tomweber",
        "active": False,
    }
    assert staff["emma-williams"]["other_emails"] == [], "a row replaces the member; empty = default"


def test_csv_with_a_spreadsheet_bom_and_only_the_required_columns(admin, fresh):
    csv = "\ufeffstaff_id,name\nmax-kurz,Max Kurz\n".encode()
    response = admin.post(f"{SALON}/staff", content=csv, headers={"content-type": "text/csv; charset=utf-8"})
    assert response.status_code == 200, response.text
    assert staff_by_id(admin)["max-kurz"]["active"] is True


GOOD_ROW = {"staff_id": "nina-braun", "name": "Nina Braun"}


@pytest.mark.parametrize(
    ("rows", "field", "message"),
    [
        (
            [GOOD_ROW, GOOD_ROW, {"staff_id": "x", "name": "X", "email": "not-an-email"}],
            "staff[1].staff_id",
            "twice",
        ),
        (
            [GOOD_ROW, {"staff_id": "y", "name": "Y"}, {"staff_id": "x", "name": "X", "email": "nope"}],
            "staff[2].email",
            "e-mail",
        ),
        (
            [GOOD_ROW, {"staff_id": "x", "name": "X", "calcom_user_id": "12"}],
            "staff[1].calcom_user_id",
            "integer",
        ),
        (
            [GOOD_ROW, {"staff_id": "x", "name": "X", "calcom_user_id": True}],
            "staff[1].calcom_user_id",
            "integer",
        ),
        ([{"staff_id": "x", "name": "X", "active": "yes"}], "staff[0].active", "boolean"),
        ([{"staff_id": "x y", "name": "X"}], "staff[0].staff_id", "pattern"),
        ([{"staff_id": "x", "name": "  "}], "staff[0].name", "at least 1"),
        ([{"staff_id": "x"}], "staff[0].name", "required"),
        (
            [{"staff_id": "x", "name": "X", "other_emails": ["a@b.de", "broken"]}],
            "staff[0].other_emails[1]",
            "e-mail",
        ),
        ([{"staff_id": "x", "name": "X", "role": "boss"}], "staff[0].role", "Extra inputs"),
        ([{"staff_id": "x", "name": "X", "company_id": "other-salon"}], "staff[0].company_id", "URL"),
        ([GOOD_ROW, "nina"], "staff[1]", "JSON object"),
    ],
)
def test_a_bad_json_row_refuses_the_whole_import(admin, unchanged_tables, rows, field, message):
    response = admin.post(f"{SALON}/staff", json={"staff": rows})
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "invalid_request"
    assert answer["field"] == field and message in answer["message"]
    assert field in {p["field"] for p in answer["problems"]}


def test_every_problem_of_an_import_is_reported(admin, unchanged_tables):
    rows = [GOOD_ROW, {"staff_id": "a", "name": "A", "email": "x"}, {"staff_id": "b", "calcom_user_id": -1}]
    answer = admin.post(f"{SALON}/staff", json={"staff": rows}).json()
    assert [p["field"] for p in answer["problems"]] == [
        "staff[1].email",
        "staff[2].name",
        "staff[2].calcom_user_id",
    ]
    assert answer["message"].endswith("(and 2 more problems)")


@pytest.mark.parametrize(
    ("csv", "field", "message"),
    [
        ("staff_id,name,email\na,A,a@x.de\nb,B,b@x.de\nc,C,broken\n", "row[4].email", "row 4: email:"),
        (
            "staff_id,name,calcom_user_id\na,A,12\nb,B,12x\n",
            "row[3].calcom_user_id",
            "row 3: calcom_user_id:",
        ),
        ("staff_id,name,active\na,A,maybe\n", "row[2].active", "true/false"),
        ("staff_id,name\na,A\na,Again\n", "row[3].staff_id", "appears twice (also in row 2)"),
        ("staff_id,name\na,A,extra\n", "row[2]", "3 cells"),
        ("staff_id,full_name\na,A\n", "header", "unknown column 'full_name'"),
        ("staff_id,email\na,a@x.de\n", "header", "'name' is required"),
        ("staff_id,name\n", "body", "no staff members"),
        ('staff_id,name\na,"A\n', "row[2]", "not valid CSV"),
    ],
)
def test_a_bad_csv_row_refuses_the_whole_import(admin, unchanged_tables, csv, field, message):
    response = admin.post(f"{SALON}/staff", content=csv.encode(), headers={"content-type": "text/csv"})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and message in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "invalid_request"),
        (b"", {"content-type": "application/json"}, 400, "invalid_request"),
        (b'[{"staff_id": "x", "name": "X"}]', {"content-type": "application/json"}, 400, "invalid_request"),
        (
            b'{"staff": [], "company_id": "salon-demo"}',
            {"content-type": "application/json"},
            400,
            "invalid_request",
        ),
        (b'{"staff": []}', {"content-type": "application/json"}, 400, "invalid_request"),
        (
            b"staff_id=x&name=X",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        (
            json.dumps({"staff": [{"staff_id": f"s{i}", "name": "S"} for i in range(1001)]}).encode(),
            {"content-type": "application/json"},
            413,
            "too_many_rows",
        ),
        (
            ("staff_id,name\n" + "".join(f"s{i},S\n" for i in range(1001))).encode(),
            {"content-type": "text/csv"},
            413,
            "too_many_rows",
        ),
        (
            json.dumps({"staff": [{"staff_id": "x", "name": "x" * (1024 * 1024)}]}).encode(),
            {"content-type": "application/json"},
            413,
            "body_too_large",
        ),
    ],
    ids=[
        "malformed",
        "empty",
        "array",
        "extra-field",
        "no-rows",
        "form",
        "1001-json",
        "1001-csv",
        "over-1mb",
    ],
)
def test_import_bodies_that_are_refused_before_any_row(admin, unchanged_tables, body, headers, status, error):
    response = admin.post(f"{SALON}/staff", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


# ------------------------------------------------------------------ manual mappings and overrides


def test_manual_mapping_by_host_id_is_audited_with_the_caller(admin, fresh):
    response = map_host(admin, 1420209, "lena-mueller", "Lena works on Fabian's Cal.com account")
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["action"] == "created"
    mapping = answer["mapping"]
    assert (mapping["host_id"], mapping["staff_id"], mapping["source"], mapping["confidence"]) == (
        1420209,
        "lena-mueller",
        "manual",
        100,
    )
    assert mapping["staff_name"] == "Lena Müller" and mapping["is_active"] is True

    trail = audit(admin, 1420209)
    assert len(trail) == 1
    assert trail[0]["action"] == "created"
    assert trail[0]["changed_by"] == ADMIN
    assert trail[0]["reason"] == "Lena works on Fabian's Cal.com account"
    assert trail[0]["old_values"] is None and trail[0]["new_values"]["staff_id"] == "lena-mueller"
    assert set(trail[0]) >= {"action", "old_values", "new_values", "changed_by", "changed_at", "reason"}


def test_override_of_an_auto_link_records_old_and_new_values(stack, admin, fresh):
    linked = resolve(stack, FABIAN_HOST)
    assert (linked["staff_id"], linked["outcome"]) == ("fabian-spitzer", "linked")

    response = map_host(admin, 1420209, "emma-williams", "front desk says Emma serves these")
    assert response.status_code == 201, response.text
    assert response.json()["action"] == "manual_override"
    assert response.json()["mapping"]["calcom_email"] == "fabian@askproai.de", "host details are kept"

    trail = audit(admin, 1420209)
    assert [a["action"] for a in trail] == ["auto_matched", "manual_override"]
    override = trail[1]
    assert override["old_values"]["staff_id"] == "fabian-spitzer"
    assert override["old_values"]["source"] == "auto_email"
    assert override["new_values"]["staff_id"] == "emma-williams"
    assert override["new_values"]["source"] == "manual"
    assert override["changed_by"] == ADMIN
    assert trail[0]["changed_by"] != ADMIN, "the auto-link is the system's"


def test_a_manual_mapping_beats_the_email_match(stack, admin, fresh):
    assert map_host(admin, 1420209, "lena-mueller").status_code == 201
    result = resolve(stack, {**FABIAN_HOST, "username": "fabianaskproai"})
    assert (result["staff_id"], result["outcome"], result["source"]) == ("lena-mueller", "existing", "manual")


def test_a_rule_by_email_links_the_host_when_it_is_met(stack, admin, fresh):
    response = admin.post(
        f"{SALON}/host-mappings",
        json={"email": " Lena@AskProAI.de ", "staff_id": "lena-mueller", "reason": "her Cal.com login"},
    )
    assert response.status_code == 201, response.text
    rule = response.json()["rule"]
    assert (rule["match_on"], rule["value"], rule["staff_id"], rule["created_by"]) == (
        "email",
        "lena@askproai.de",
        "lena-mueller",
        ADMIN,
    )
    listed = admin.get(f"{SALON}/host-mappings").json()
    assert [(r["match_on"], r["value"]) for r in listed["rules"]] == [("email", "lena@askproai.de")]

    result = resolve(stack, LENA_HOST)  # without the rule only a fuzzy review candidate
    assert (result["staff_id"], result["outcome"], result["strategy"]) == ("lena-mueller", "linked", "manual")


def test_a_rule_warns_when_the_host_is_already_mapped(stack, admin, fresh):
    resolve(stack, FABIAN_HOST)  # auto-linked by e-mail
    response = admin.post(
        f"{SALON}/host-mappings",
        json={"email": "fabian@askproai.de", "staff_id": "emma-williams", "reason": "shared login"},
    )
    assert response.status_code == 201
    assert "map host_id 1420209" in response.json()["warnings"][0]


def test_a_rule_by_username(admin, fresh):
    response = admin.post(
        f"{SALON}/host-mappings",
        json={"username": "saraoezdemir", "staff_id": "sara-oezdemir", "reason": "her Cal.com username"},
    )
    assert response.status_code == 201
    assert response.json()["rule"]["match_on"] == "username"


def test_deactivate_is_audited_and_leaves_the_mapping_inactive(admin, fresh):
    assert map_host(admin, 1420209, "lena-mueller").status_code == 201

    response = admin.request(
        "DELETE", f"{SALON}/host-mappings/1420209", json={"reason": "Lena left the salon"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["mapping"]["is_active"] is False

    trail = audit(admin, 1420209)
    assert [a["action"] for a in trail] == ["created", "deleted"]
    assert trail[1]["changed_by"] == ADMIN and trail[1]["reason"] == "Lena left the salon"
    assert trail[1]["old_values"]["is_active"] is True and trail[1]["new_values"]["is_active"] is False

    assert admin.get(f"{SALON}/host-mappings").json()["mappings"] == []
    inactive = admin.get(f"{SALON}/host-mappings", params={"include_inactive": "true"}).json()
    assert [(m["host_id"], m["is_active"]) for m in inactive["mappings"]] == [(1420209, False)]

    again = admin.request("DELETE", f"{SALON}/host-mappings/1420209", params={"reason": "again"})
    assert again.status_code == 404 and again.json()["error"] == "no_active_mapping"


def test_deactivate_a_host_never_mapped_is_404(admin, unchanged_tables):
    response = admin.request("DELETE", f"{SALON}/host-mappings/424242", params={"reason": "cleanup"})
    assert response.status_code == 404 and response.json()["error"] == "no_active_mapping"


def test_audit_of_a_host_never_mapped_is_empty(admin):
    assert audit(admin, 424242) == []


# ------------------------------------------------------------------ the review queue


def test_review_candidates_and_unmapped_hosts_after_resolution(stack, admin, fresh):
    assert admin.get(f"{SALON}/review-candidates").json() == {"review_candidates": []}
    assert admin.get(f"{SALON}/unmapped-hosts").json() == {"unmapped_hosts": []}

    assert resolve(stack, LENA_HOST)["outcome"] == "review"
    assert resolve(stack, NOBODY_HOST)["outcome"] == "unmatched"

    reviews = admin.get(f"{SALON}/review-candidates").json()["review_candidates"]
    assert [r["host"]["id"] for r in reviews] == [999001]
    top = reviews[0]["candidates"][0]
    assert (top["staff_id"], top["staff_name"], top["source"]) == (
        "lena-mueller",
        "Lena Müller",
        "auto_fuzzy",
    )
    assert 0 < top["confidence"] < 75 and top["reason"]

    unmapped = admin.get(f"{SALON}/unmapped-hosts").json()["unmapped_hosts"]
    assert [(h["host"]["id"], h["host"]["name"]) for h in unmapped] == [(999002, "Nobody Known")]
    assert "candidates" not in unmapped[0] and unmapped[0]["seen_count"] == 1

    # The admin confirms the candidate: the review closes, and the host resolves to Lena.
    assert map_host(admin, 999001, "lena-mueller", "confirmed: same person").status_code == 201
    assert admin.get(f"{SALON}/review-candidates").json() == {"review_candidates": []}
    assert resolve(stack, LENA_HOST)["staff_id"] == "lena-mueller"


# ------------------------------------------------------------------ bad input writes nothing


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        (b"{not json", 400, "body", "not valid JSON"),
        (b"", 400, "body", "empty"),
        (b"[]", 400, "body", "must be a JSON object"),
        ({"host_id": 1420209, "staff_id": 42, "reason": "r"}, 400, "staff_id", "valid string"),
        ({"host_id": True, "staff_id": "lena-mueller", "reason": "r"}, 400, "host_id", "true/false"),
        ({"host_id": "12a", "staff_id": "lena-mueller", "reason": "r"}, 400, "host_id", "is a number"),
        ({"host_id": 1.5, "staff_id": "lena-mueller", "reason": "r"}, 400, "host_id", "whole number"),
        ({"host_id": -3, "staff_id": "lena-mueller", "reason": "r"}, 400, "host_id", "positive"),
        (
            {"host_id": "unknown", "staff_id": "lena-mueller", "reason": "r"},
            400,
            "host_id",
            "cannot be mapped",
        ),
        (
            {"host_id": 1, "email": "a@b.de", "staff_id": "lena-mueller", "reason": "r"},
            400,
            "host_id",
            "exactly one",
        ),
        ({"staff_id": "lena-mueller", "reason": "r"}, 400, "host_id", "exactly one"),
        ({"host_id": 1420209, "staff_id": "lena-mueller"}, 400, "reason", "is missing"),
        ({"host_id": 1420209, "staff_id": "lena-mueller", "reason": "   "}, 400, "reason", "at least 1"),
        ({"host_id": 1420209, "staff_id": "lena-mueller", "reason": 5}, 400, "reason", "valid string"),
        ({"email": "lena", "staff_id": "lena-mueller", "reason": "r"}, 400, "email", "e-mail"),
        (
            {"host_id": 1, "staff_id": "lena-mueller", "reason": "r", "company_id": "x"},
            400,
            "company_id",
            "Extra",
        ),
        ({"host_id": 1420209, "staff_id": "nobody", "reason": "r"}, 404, "staff_id", "unknown staff"),
    ],
)
def test_bad_mapping_requests_are_4xx_and_write_nothing(
    admin, unchanged_tables, body, status, field, message
):
    if isinstance(body, bytes):
        response = admin.post(
            f"{SALON}/host-mappings", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = admin.post(f"{SALON}/host-mappings", json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["field"] == field and message in answer["message"], answer
    assert "Traceback" not in response.text


def test_mapping_to_an_inactive_staff_member_is_400(admin, fresh):
    body = {"staff": [{"staff_id": "sara-oezdemir", "name": "Sara Özdemir", "active": False}]}
    assert admin.post(f"{SALON}/staff", json=body).status_code == 200
    before = admin.get(f"{SALON}/host-mappings").json()
    response = map_host(admin, 1420212, "sara-oezdemir")
    assert response.status_code == 400
    assert response.json()["field"] == "staff_id" and "inactive" in response.json()["message"]
    assert admin.get(f"{SALON}/host-mappings").json() == before
    assert audit(admin, 1420212) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("DELETE", "/host-mappings/abc", {"reason": "r"}, "host_id"),
        ("DELETE", "/host-mappings/unknown", {"reason": "r"}, "host_id"),
        ("GET", "/host-mappings/abc/audit", None, "host_id"),
        ("DELETE", "/host-mappings/1420209", None, "reason"),
        ("DELETE", "/host-mappings/1420209", {"reason": ""}, "reason"),
        ("DELETE", "/host-mappings/1420209", {"why": "r"}, "reason"),
        ("GET", "/host-mappings?include_inactive=maybe", None, "include_inactive"),
    ],
)
def test_bad_paths_and_parameters_are_400(admin, unchanged_tables, method, path, body, field):
    response = admin.request(method, f"{SALON}{path}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


def test_deactivate_with_malformed_json_is_400(admin, fresh):
    assert map_host(admin, 1420209, "lena-mueller").status_code == 201
    response = admin.request(
        "DELETE",
        f"{SALON}/host-mappings/1420209",
        content=b"{oops",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["field"] == "body"
    assert [a["action"] for a in audit(admin, 1420209)] == ["created"]


# ------------------------------------------------------------------ the sample events


ADMIN_EVENTS = sorted(EVENTS.glob("admin_*.json"))


def test_there_is_a_sample_event_for_every_admin_route(stack):
    admin_routes = {r.route_key for r in stack.routes if r.function == "AdminApiFunction"}
    assert {json.loads(p.read_text(encoding="utf-8"))["routeKey"] for p in ADMIN_EVENTS} == admin_routes


def test_sample_events_answer_on_the_stack(stack, fresh):
    def invoke(name: str) -> tuple[int, dict]:
        event = json.loads((EVENTS / f"admin_{name}.json").read_text(encoding="utf-8"))
        assert event["requestContext"]["authorizer"]["iam"]["userArn"] == ADMIN
        response = stack.invoke("AdminApiFunction", event).json()
        return response["statusCode"], json.loads(response["body"])

    assert invoke("list_staff")[0] == 200
    assert invoke("import_staff_json") == (200, {"imported": 2, "created": 1, "updated": 1, "unchanged": 0})
    assert invoke("import_staff_csv") == (200, {"imported": 2, "created": 1, "updated": 0, "unchanged": 1})
    status, created = invoke("create_mapping")
    assert status == 201 and created["mapping"]["staff_id"] == "lena-mueller"
    assert invoke("create_rule")[0] == 201
    status, listed = invoke("list_mappings")
    assert status == 200 and len(listed["mappings"]) == 1 and len(listed["rules"]) == 1
    status, deactivated = invoke("deactivate_mapping")
    assert status == 200 and deactivated["mapping"]["is_active"] is False
    status, trail = invoke("mapping_audit")
    assert status == 200 and [a["action"] for a in trail["audit"]] == ["created", "deleted"]
    assert invoke("review_candidates") == (200, {"review_candidates": []})
    assert invoke("unmapped_hosts") == (200, {"unmapped_hosts": []})
    status, read = invoke("get_settings")
    assert status == 200 and read["settings"]["sync_repair_drift"] is False
    status, patched = invoke("patch_settings")
    assert status == 200 and patched["changed"] == [
        "booking_window_days",
        "opening_hours",
        "sync_repair_drift",
    ]
    assert invoke("get_settings") == (200, {"settings": patched["settings"]})


def test_company_sample_events_answer_on_the_stack(stack, fresh):
    def invoke(name: str) -> tuple[int, dict]:
        event = json.loads((EVENTS / f"admin_{name}.json").read_text(encoding="utf-8"))
        response = stack.invoke("AdminApiFunction", event).json()
        return response["statusCode"], json.loads(response["body"])

    status, created = invoke("put_company")
    assert status == 201 and created["company"]["country"] == "GB", created
    assert invoke("get_company") == (200, {"company": created["company"]})
    assert "studio-west" in {c["company_id"] for c in invoke("list_companies")[1]["companies"]}
    assert invoke("patch_company")[1]["changed"] == ["minimum_notice_minutes"]
    assert invoke("put_branch")[0] == 201
    assert invoke("delete_branch")[0] == 200
    assert invoke("deactivate_company")[1]["company"]["active"] is False
    assert invoke("activate_company")[1]["company"]["active"] is True
    status, trail = invoke("company_audit")
    assert status == 200
    assert [a["action"] for a in trail["audit"]] == [
        "activated",
        "deactivated",
        "branch removed",
        "branch saved",
        "changed",
        "created",
    ]
