"""An API Gateway HTTP API stand-in: requests become payload format 2.0 events.

Like `sam local start-api`, for the `HttpApi` events of the template's functions:
route matching (`{param}`, `{proxy+}`, `ANY`, `$default`; most specific route wins), the 2.0 event
(lower-cased headers with duplicates comma-joined, `cookies`, raw path and query string, query and
path parameters, `requestContext`), text bodies as str and other bodies base64 with
`isBase64Encoded`, and the 2.0 response rules (a result without `statusCode` is a 200 JSON body).

Errors as API Gateway reports them: no route -> 404 `{"message":"Not Found"}`, handler error ->
500 `{"message":"Internal Server Error"}`, body over 10 MB -> 413.

IAM-authorized routes (`Auth: {Authorizer: AWS_IAM}` on the event, or the API's
`Auth.DefaultAuthorizer: AWS_IAM`): there is no SigV4 locally. The caller names its identity in the
header `x-calbridge-local-identity` (a principal ARN, or a bare name such as the documented default
`calbridge-local-admin`, which becomes `arn:aws:iam::123456789012:user/<name>`). Without it the
route answers 403 `{"message":"Forbidden"}`; with it the event carries
`requestContext.authorizer.iam` as AWS would. The header itself is not passed to the handler.

JWT-authorized routes (`Auth: {Authorizer: <name>}` naming one of the API's `Auth.Authorizers` with
a `JwtConfiguration`): the Authorization header's token is verified as API Gateway does
(local/jwt_authorizer.py); a missing or invalid one answers 401 `{"message":"Unauthorized"}`, a
valid one reaches the handler as `requestContext.authorizer.jwt`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.jwt_authorizer import JwtAuthorizer
from local.lambda_runtime import InvokeResult
from local.template import ACCOUNT_ID

LOG = logging.getLogger("local.http")

IDENTITY_HEADER = "x-calbridge-local-identity"
DEFAULT_LOCAL_PRINCIPAL = "calbridge-local-admin"
MAX_BODY_BYTES = 10 * 1024 * 1024
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(.+\+)?json|application/(.+\+)?xml|application/x-www-form-urlencoded"
    r"|application/javascript)$"
)

Invoker = Callable[[str, dict[str, Any]], InvokeResult]


@dataclass
class Route:
    method: str  # upper case, or ANY
    path: str  # "/retell/inbound", "/items/{id}", "/{proxy+}", or "$default"
    function: str  # logical id
    auth: str | None = None  # "AWS_IAM", "JWT" or None
    api_id: str = "local"
    jwt: JwtAuthorizer | None = None  # the authorizer of a "JWT" route

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
            self.method = "ANY"
        self.is_default = self.path == "$default"
        self.route_key = "$default" if self.is_default else f"{self.method} {self.path}"
        self.greedy = "+}" in self.path
        parts = [p for p in self.path.strip("/").split("/") if p] if not self.is_default else []
        self.literal_segments = sum(1 for p in parts if not p.startswith("{"))
        self.segments = len(parts)
        pattern = ""
        for part in parts:
            m = re.fullmatch(r"\{([^}+]+)(\+?)\}", part)
            if m and m.group(2):
                pattern += f"/(?P<{_group(m.group(1))}>.+)"
            elif m:
                pattern += f"/(?P<{_group(m.group(1))}>[^/]+)"
            else:
                pattern += "/" + re.escape(part)
        self._names = {_group(n): n for n in re.findall(r"\{([^}+]+)\+?\}", self.path)}
        self._regex = re.compile(f"^{pattern}/?$" if pattern else "^/?$")  # a trailing slash is tolerated

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.is_default:
            return {}
        if self.method not in ("ANY", method):
            return None
        m = self._regex.match(path)
        if not m:
            return None
        return {self._names[k]: v for k, v in m.groupdict().items()}

    def specificity(self) -> tuple[int, int, int, int, int]:
        return (
            0 if self.is_default else 1,
            0 if self.greedy else 1,
            self.literal_segments,
            self.segments,
            0 if self.method == "ANY" else 1,
        )


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def find_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    best: tuple[Route, dict[str, str]] | None = None
    for route in routes:
        params = route.match(method, path)
        if params is None:
            continue
        if best is None or route.specificity() > best[0].specificity():
            best = (route, params)
    return best


def iam_identity(value: str) -> dict[str, Any]:
    """`requestContext.authorizer.iam` for a local identity (principal ARN or name)."""
    value = value.strip()
    if value.startswith("arn:"):
        arn = value
        parts = arn.split(":")
        account = parts[4] if len(parts) > 4 and parts[4] else ACCOUNT_ID
    else:
        arn = f"arn:aws:iam::{ACCOUNT_ID}:user/{value}"
        account = ACCOUNT_ID
    digest = hashlib.sha1(arn.encode()).hexdigest()[:16].upper()
    prefix = "AROA" if ":assumed-role/" in arn or ":role/" in arn else "AIDA"
    user_id = f"{prefix}{digest}"
    if ":assumed-role/" in arn:
        user_id += ":" + arn.rsplit("/", 1)[-1]
    return {
        "accessKey": f"ASIA{digest}",
        "accountId": account,
        "callerId": user_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": arn,
        "userId": user_id,
    }


def build_event(
    *,
    route: Route,
    path_params: dict[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    host: str,
    identity: str | None,
    jwt_claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        if key == IDENTITY_HEADER:
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    now = time.time()
    request_id = base64.b32encode(uuid.uuid4().bytes).decode()[:16]
    domain = merged.get("host", host)
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": route.api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if identity is not None:
        request_context["authorizer"] = {"iam": iam_identity(identity)}
    elif jwt_claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": jwt_claims, "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    if raw_query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    event["requestContext"] = request_context
    if body:
        content_type = merged.get("content-type", "").split(";")[0].strip().lower()
        text: str | None = None
        if _TEXT_TYPES.match(content_type):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
            event["isBase64Encoded"] = False
    else:
        event["isBase64Encoded"] = False
    return event


def map_response(result: InvokeResult) -> tuple[int, list[tuple[str, str]], bytes]:
    """A function result as API Gateway (payload 2.0) turns it into an HTTP response."""
    if result.function_error:
        return _message(500, "Internal Server Error")
    try:
        value = json.loads(result.payload) if result.payload else None
    except ValueError:
        return _message(500, "Internal Server Error")
    if not (isinstance(value, dict) and "statusCode" in value):
        # 2.0 inference: no statusCode -> 200, the whole result is the JSON body
        body = result.payload if result.payload else b""
        return 200, [("content-type", "application/json")], body
    try:
        status = int(value["statusCode"])
        if not 100 <= status <= 599:
            raise ValueError(status)
    except (TypeError, ValueError):
        return _message(500, "Internal Server Error")
    headers: list[tuple[str, str]] = []
    for name, header_value in (value.get("headers") or {}).items():
        headers.append((str(name), _header_value(header_value)))
    for name, values in (value.get("multiValueHeaders") or {}).items():
        for v in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_value(v)))
    for cookie in value.get("cookies") or []:
        headers.append(("set-cookie", str(cookie)))
    if not any(h.lower() == "content-type" for h, _ in headers):
        headers.append(("content-type", "application/json"))
    raw_body = value.get("body")
    if raw_body is None:
        body = b""
    elif value.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(raw_body), validate=False)
        except (binascii.Error, ValueError):
            return _message(500, "Internal Server Error")
    elif isinstance(raw_body, str):
        body = raw_body.encode("utf-8")
    else:
        body = json.dumps(raw_body).encode("utf-8")
    return status, headers, body


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _message(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("content-type", "application/json")], json.dumps({"message": message}).encode()


class HttpFront:
    """The HTTP API on 127.0.0.1:`port` (0 = a free port), in a background thread."""

    def __init__(
        self, routes: list[Route], invoke: Invoker, *, host: str = "127.0.0.1", port: int = 3000
    ) -> None:
        self.routes = routes
        self.invoke = invoke
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # requests wait for it (set after seeding)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        front = self

        class Handler(_RequestHandler):
            pass

        Handler.front = front
        server = ThreadingHTTPServer((self._host, self._port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="http-front", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- one request ----------------------------------------------------------------------
    def handle(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        self.ready.wait()
        split = urlsplit(target)
        raw_path = split.path or "/"
        found = find_route(self.routes, method, raw_path)
        if found is None:
            return _message(404, "Not Found")
        route, params = found
        identity: str | None = None
        if route.auth == "AWS_IAM":
            identity = next((v for k, v in headers if k.lower() == IDENTITY_HEADER), "").strip() or None
            if identity is None:
                return _message(403, "Forbidden")
        jwt_claims: dict[str, str] | None = None
        if route.auth == "JWT":
            assert route.jwt is not None
            authorization = next((v for k, v in headers if k.lower() == "authorization"), None)
            jwt_claims = route.jwt.claims(authorization)
            if jwt_claims is None:
                return _message(401, "Unauthorized")
        host = f"{self._host}:{self._port}"
        if self._server is not None:
            host = self.url.removeprefix("http://")
        event = build_event(
            route=route,
            path_params=params,
            method=method,
            raw_path=raw_path,
            raw_query=split.query,
            headers=headers,
            body=body,
            source_ip=source_ip,
            host=host,
            identity=identity,
            jwt_claims=jwt_claims,
        )
        try:
            result = self.invoke(route.function, event)
        except Exception:  # an invocation that could not even run
            LOG.exception("invoking %s failed", route.function)
            return _message(500, "Internal Server Error")
        status, out_headers, out_body = map_response(result)
        LOG.info("%s %s -> %d (%s, %.0f ms)", method, raw_path, status, route.function, result.duration_ms)
        request_id = event["requestContext"]["requestId"]
        return status, [*out_headers, ("apigw-requestid", request_id)], out_body


class _RequestHandler(BaseHTTPRequestHandler):
    front: HttpFront
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus the client's delayed
    # ACK adds ~40 ms to every response.
    disable_nagle_algorithm = True
    server_version = "calbridge-local"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            status, headers, out = _message(413, "Request Entity Too Large")
            self.close_connection = True
        else:
            status, headers, out = self.front.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch
