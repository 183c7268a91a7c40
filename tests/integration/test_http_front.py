"""The HTTP front (API Gateway HTTP API, payload format 2.0) over the fixture template's echo function.

The echo function (tests/fixtures/sfn/functions/echo) returns the event it got, or a response
chosen by `/respond/{kind}`.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from local.http_front import Route, find_route, map_response
from local.lambda_runtime import InvokeResult
from local.stack import LocalStack, suspended_active_stack
from local.template import local_api_id

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "tests" / "fixtures" / "sfn" / "template.yaml"
CALCOM = "https://calcom.fixture.test"


@pytest.fixture(scope="module")
def stack():
    with suspended_active_stack(), LocalStack(TEMPLATE, http_port=0, calcom_base_url=CALCOM) as running:
        yield running


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    stack, method: str, target: str, body: bytes | None = None, headers: list[tuple[str, str]] = ()
) -> Response:
    url = urlsplit(stack.http_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Response(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def event_of(response: Response) -> dict[str, Any]:
    assert response.status == 200, response.body
    return response.json()["event"]


# --------------------------------------------------------------------------- the event


def test_post_event_has_the_payload_2_shape(stack) -> None:
    body = '{"greeting": "Grüße aus Köln 🎉", "n": 1.50}'.encode()
    response = call(
        stack,
        "POST",
        "/echo",
        body,
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("X-Custom-Header", "Value"),
            ("X-Dup", "1"),
            ("X-Dup", "2"),
            ("Cookie", "session=abc; theme=dark"),
            ("User-Agent", "retell-test/1.0"),
        ],
    )
    event = event_of(response)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /echo"
    assert event["rawPath"] == "/echo"
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event and "pathParameters" not in event
    assert event["body"] == body.decode("utf-8")  # the exact text, nothing re-encoded
    assert event["body"].encode("utf-8") == body
    assert event["isBase64Encoded"] is False
    headers = event["headers"]
    assert all(name == name.lower() for name in headers)
    assert headers["x-custom-header"] == "Value"
    assert headers["x-dup"] == "1,2"
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert "cookie" not in headers
    assert event["cookies"] == ["session=abc", "theme=dark"]

    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == local_api_id("FixtureHttpApi")
    assert context["routeKey"] == "POST /echo"
    assert context["stage"] == "$default"
    assert context["http"] == {
        "method": "POST",
        "path": "/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "retell-test/1.0",
    }
    assert context["domainName"] == urlsplit(stack.http_url).netloc
    assert context["domainPrefix"] == context["domainName"].split(".")[0]
    assert isinstance(context["requestId"], str) and context["requestId"]
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith("+0000")
    assert "authorizer" not in context


def test_handler_gets_a_lambda_context_and_the_template_environment(stack) -> None:
    payload = call(stack, "POST", "/echo", b"{}", [("content-type", "application/json")]).json()
    context = payload["context"]
    assert context["function_name"] == "EchoFunction"
    assert context["invoked_function_arn"] == "arn:aws:lambda:eu-central-1:123456789012:function:EchoFunction"
    assert context["memory_limit_in_mb"] == 256
    assert 0 < context["remaining_ms"] <= 5000
    assert context["log_group_name"] == "/aws/lambda/EchoFunction"
    assert payload["env"]["LEDGER_TABLE"] == "LedgerTable"
    assert payload["env"]["CALCOM_BASE_URL"] == CALCOM == stack.calcom_url


def test_query_string_and_path_parameters(stack) -> None:
    event = event_of(call(stack, "GET", "/items/42?b=2&a=1&a=3&empty=&sp=a%20b"))
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["pathParameters"] == {"item_id": "42"}
    assert event["rawQueryString"] == "b=2&a=1&a=3&empty=&sp=a%20b"
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3", "empty": "", "sp": "a b"}
    assert "body" not in event and event["isBase64Encoded"] is False


def test_the_most_specific_route_wins(stack) -> None:
    event = event_of(call(stack, "GET", "/items/special"))
    assert event["routeKey"] == "GET /items/special"
    assert "pathParameters" not in event


def test_greedy_proxy_route_with_any_method(stack) -> None:
    event = event_of(call(stack, "DELETE", "/files/a/b/c.txt"))
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["requestContext"]["http"]["method"] == "DELETE"


def test_binary_bodies_arrive_base64_encoded(stack) -> None:
    raw = bytes(range(256))
    event = event_of(call(stack, "POST", "/files/blob", raw, [("Content-Type", "application/octet-stream")]))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw

    not_utf8 = b'{"name": "\xff\xfe"}'
    event = event_of(call(stack, "POST", "/files/blob", not_utf8, [("Content-Type", "application/json")]))
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == not_utf8

    form = b"name=J%C3%BCrgen&x=1"
    event = event_of(
        call(stack, "POST", "/files/form", form, [("Content-Type", "application/x-www-form-urlencoded")])
    )
    assert event["isBase64Encoded"] is False and event["body"] == form.decode()


# ------------------------------------------------------------------------ the response


def test_structured_response_maps_status_headers_cookies_and_binary_body(stack) -> None:
    response = call(stack, "GET", "/respond/binary")
    assert response.status == 201
    assert response.header("content-type") == "application/octet-stream"
    assert response.header("x-echo") == "binary"
    assert response.header_all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert response.body == bytes(range(256))
    assert response.header("apigw-requestid")


def test_text_response_keeps_its_content_type_and_characters(stack) -> None:
    response = call(stack, "GET", "/respond/text")
    assert response.status == 418
    assert response.header("content-type") == "text/plain; charset=utf-8"
    assert response.body.decode("utf-8") == "ich bin ein Teekännchen"


def test_result_without_status_code_is_a_200_json_body(stack) -> None:
    response = call(stack, "GET", "/respond/plain")
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert response.json() == {"hello": "world", "n": 1}


# --------------------------------------------------------------------------- errors


def test_no_route_is_404(stack) -> None:
    for method, target in (("GET", "/nope"), ("GET", "/echo"), ("POST", "/items/1/more")):
        response = call(stack, method, target)
        assert response.status == 404, target
        assert response.json() == {"message": "Not Found"}


def test_handler_exception_is_500(stack) -> None:
    response = call(stack, "GET", "/respond/boom")
    assert response.status == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert call(stack, "GET", "/respond/bad").status == 500  # statusCode that is not a number


def test_body_over_10_mb_is_413(stack) -> None:
    url = urlsplit(stack.http_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10485761\r\n\r\n"
        )
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"413"


def test_iam_route_needs_a_local_identity(stack) -> None:
    response = call(stack, "GET", "/admin/whoami")
    assert response.status == 403
    assert response.json() == {"message": "Forbidden"}

    arn = "arn:aws:iam::123456789012:user/alice"
    event = event_of(call(stack, "GET", "/admin/whoami", headers=[("x-calbridge-local-identity", arn)]))
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["userArn"] == arn
    assert iam["accountId"] == "123456789012"
    assert iam["userId"] and iam["callerId"] == iam["userId"]
    assert iam["principalOrgId"] is None and iam["cognitoIdentity"] is None
    assert "x-calbridge-local-identity" not in event["headers"]

    event = event_of(
        call(stack, "GET", "/admin/whoami", headers=[("x-calbridge-local-identity", "calbridge-local-admin")])
    )
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["userArn"] == "arn:aws:iam::123456789012:user/calbridge-local-admin"


# --------------------------------------------------------------- routing, unit-level


def test_route_specificity_and_method_matching() -> None:
    routes = [
        Route("ANY", "/{proxy+}", "Catch"),
        Route("GET", "/a/{id}", "Param"),
        Route("GET", "/a/b", "Exact"),
        Route("ANY", "/a/b", "AnyExact"),
        Route("POST", "$default", "Default"),
    ]
    assert find_route(routes, "GET", "/a/b")[0].function == "Exact"
    assert find_route(routes, "POST", "/a/b")[0].function == "AnyExact"
    assert find_route(routes, "GET", "/a/x") == (routes[1], {"id": "x"})
    assert find_route(routes, "PUT", "/z/y")[0].function == "Catch"
    assert find_route([routes[4]], "GET", "/anything")[0].route_key == "$default"


def test_map_response_rules() -> None:
    assert map_response(InvokeResult(b'"text"'))[2] == b'"text"'
    status, headers, body = map_response(InvokeResult(b'{"statusCode": 204}'))
    assert (status, body) == (204, b"") and ("content-type", "application/json") in headers
    assert map_response(InvokeResult(b"{}", function_error="Unhandled"))[0] == 500
    status, headers, _ = map_response(
        InvokeResult(
            b'{"statusCode": 200, "multiValueHeaders": {"x-m": ["1", "2"]}, "headers": {"x-b": true}}'
        )
    )
    assert [v for k, v in headers if k == "x-m"] == ["1", "2"] and ("x-b", "true") in headers
