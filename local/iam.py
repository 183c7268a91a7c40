"""The IAM judge: every AWS call a Lambda handler makes on the local stack, checked against ITS
policies in template.yaml (docs/adr/0020-iam-judge.md).

The local stack runs every function in-process against moto, which allows everything; in AWS each
function runs under its own role, built by SAM from the function's `Policies`. `IamJudge` computes,
per function logical id, the statements of that role:

* SAM policy templates, expanded as SAM expands them: the definitions are copied unchanged into
  local/sam_policy_templates.json (source: aws/serverless-application-model,
  samtranslator/policy_templates_data/policy_templates.json; the commit is named in the file);
* inline policy documents (`- Statement: [...]`), with the template's intrinsics resolved by the
  local stack's `Resolver` (local/template.py), so ARNs carry the names the local stack gives its
  resources (a table's physical name is its logical id);
* the managed policies SAM attaches by itself: AWSLambdaBasicExecutionRole always, AWSXrayWriteOnly
  Access with `Tracing: Active`, AWSLambdaSQSQueueExecutionRole per SQS event (their statements
  as AWS publishes them in the AWS Managed Policy Reference Guide).

`CallRecorder` is told by a botocore hook of every API call made while a handler runs (the local
Lambda runtime names the running function in `RUNNING_FUNCTION`), turns the call into the (action,
resource) pairs IAM evaluates (`requested_permissions`) and asks the judge once per distinct pair:
after the first time a call costs a dict lookup. Calls without a running function (the stack's own
set-up, the tests' assertions, moto's internals) are not judged, nor calls from threads a handler
starts itself (a `threading.Thread` does not inherit the context variable): those go unattributed.

What the judge does not model: statements' `Condition`s (such a statement counts as allowing),
resource policies, permission boundaries, `NotAction`/`NotResource` (refused), state machine roles
(moto's Step Functions engine calls the task functions without botocore).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from local.lambda_runtime import RUNNING_FUNCTION
from local.template import ACCOUNT_ID, PARTITION, Resolver, TemplateError, load_template

LOG = logging.getLogger("local.iam")
SAM_POLICY_TEMPLATES = Path(__file__).with_name("sam_policy_templates.json")

# Managed policies SAM attaches without being asked (samtranslator/model/sam_resources.py), with
# the statements AWS publishes for them (AWS Managed Policy Reference Guide).
_BASIC_EXECUTION = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
_XRAY_WRITE_ONLY = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
)
_SQS_QUEUE_EXECUTION = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    *_BASIC_EXECUTION,
)

# An item of a DynamoDB transaction is authorized as the single-item operation it performs: "Permissions
# for Put, Update, Delete, and Get actions are governed by the permissions used for the underlying
# PutItem, UpdateItem, DeleteItem, and GetItem operations. For the ConditionCheck action, you can use
# the dynamodb:ConditionCheckItem permission" (Amazon DynamoDB Developer Guide, "Using IAM with
# DynamoDB transactions", docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
_TRANSACTION_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# "You cannot set permissions explicitly for SendMessageBatch, DeleteMessageBatch, or
# ChangeMessageVisibilityBatch. Instead, setting permissions for SendMessage, DeleteMessage, or
# ChangeMessageVisibility sets permissions for the corresponding batch versions" (Amazon SQS Developer
# Guide, "Amazon SQS batch actions",
# docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html).
_SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# Secrets Manager appends "-" and six random characters to a secret's name in its ARN; locally the
# suffix is "local", as local/template.py gives a secret resource's ARN.
_SECRET_ARN_SUFFIX = "-local"

Permission = tuple[str, str]  # (action, resource ARN)


# ------------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Statement:
    """One statement of a function's role: actions and resources as IAM patterns (`*`, `?`)."""

    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    source: str  # where it comes from: "DynamoDBReadPolicy", "inline statement", ...

    def covers_action(self, action: str) -> bool:
        return any(_pattern(a, ignore_case=True).fullmatch(action) for a in self.actions)

    def covers(self, action: str, resource: str) -> bool:
        return self.covers_action(action) and any(_pattern(r).fullmatch(resource) for r in self.resources)


@cache
def _pattern(text: str, ignore_case: bool = False) -> re.Pattern[str]:
    """An IAM pattern as a regex: `*` any run of characters, `?` one; action names ignore case."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


@cache
def sam_policy_templates() -> dict[str, Any]:
    return json.loads(SAM_POLICY_TEMPLATES.read_text(encoding="utf-8"))["Templates"]


def expand_policy_template(name: str, arguments: dict[str, Any], resolver: Resolver) -> list[Statement]:
    """A SAM policy template's statements, its parameters replaced by `arguments` (resolved)."""
    template = sam_policy_templates().get(name)
    if template is None:
        raise TemplateError(
            f"SAM policy template {name} is not in {SAM_POLICY_TEMPLATES.name}: copy its definition "
            "from samtranslator/policy_templates_data/policy_templates.json"
        )
    missing = set(template.get("Parameters") or {}) - set(arguments)
    if missing:
        raise TemplateError(f"SAM policy template {name} needs {', '.join(sorted(missing))}")
    values = {key: resolver.resolve(value) for key, value in arguments.items()}
    definition = _replace_parameter_refs(template["Definition"], values)
    return _statements(resolver.resolve(definition)["Statement"], source=name)


def _replace_parameter_refs(value: Any, values: dict[str, Any]) -> Any:
    """SAM's own step: `{"Ref": <template parameter>}` becomes the value the template passed."""
    if isinstance(value, list):
        return [_replace_parameter_refs(v, values) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in values:
            return values[value["Ref"]]
        return {k: _replace_parameter_refs(v, values) for k, v in value.items()}
    return value


def _statements(raw: Any, source: str) -> list[Statement]:
    out = []
    for statement in raw if isinstance(raw, list) else [raw]:
        if "NotAction" in statement or "NotResource" in statement:
            raise TemplateError(f"{source}: NotAction/NotResource are not modelled by the IAM judge")
        out.append(
            Statement(
                effect=str(statement.get("Effect", "Allow")),
                actions=tuple(str(a) for a in _as_list(statement.get("Action"))),
                resources=tuple(str(r) for r in _as_list(statement.get("Resource"))),
                source=source,
            )
        )
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _managed(actions: Iterable[str], source: str) -> Statement:
    return Statement("Allow", tuple(actions), ("*",), source)


# ------------------------------------------------------------------------------------ judge


def template_resolver(template: str | Path | dict[str, Any], region: str = "eu-central-1") -> Resolver:
    """A resolver of a template file or parsed template, its parameters at their defaults, the
    resources named as the local stack names them."""
    data = template if isinstance(template, dict) else load_template(template)
    defaults = {name: spec.get("Default") for name, spec in (data.get("Parameters") or {}).items()}
    return Resolver(data, region=region, parameter_values=defaults)


@dataclass(frozen=True)
class Violation:
    function: str
    action: str
    resource: str
    why: str

    def __str__(self) -> str:
        return f"{self.function}: {self.action} on {self.resource}: {self.why}"


class IamJudge:
    """Each function's role, from the template the local stack runs."""

    def __init__(self, resolver: Resolver) -> None:
        self.region = resolver.region
        self.account_id = resolver.account_id
        self.roles: dict[str, list[Statement]] = {
            lid: self._role(resolver, lid)
            for lid, resource in resolver.resources.items()
            if resource.get("Type") == "AWS::Serverless::Function" and resolver.resource_enabled(lid)
        }

    @classmethod
    def from_template(cls, template: str | Path | dict[str, Any], region: str = "eu-central-1") -> IamJudge:
        """A judge for a template file or parsed template, its parameters at their defaults."""
        return cls(template_resolver(template, region))

    @staticmethod
    def _role(resolver: Resolver, lid: str) -> list[Statement]:
        props = resolver.resources[lid].get("Properties") or {}
        global_props = (resolver.template.get("Globals") or {}).get("Function") or {}
        statements = [_managed(_BASIC_EXECUTION, "AWSLambdaBasicExecutionRole")]
        if resolver.resolve(props.get("Tracing", global_props.get("Tracing"))) == "Active":
            statements.append(_managed(_XRAY_WRITE_ONLY, "AWSXrayWriteOnlyAccess"))
        if any(event.get("Type") == "SQS" for event in (props.get("Events") or {}).values()):
            statements.append(_managed(_SQS_QUEUE_EXECUTION, "AWSLambdaSQSQueueExecutionRole"))
        for policy in _as_list(props.get("Policies")):
            if isinstance(policy, dict) and "Statement" in policy:
                statements += _statements(resolver.resolve(policy["Statement"]), source="inline statement")
            elif isinstance(policy, dict) and len(policy) == 1:
                ((name, arguments),) = policy.items()
                statements += expand_policy_template(name, arguments or {}, resolver)
            else:
                raise TemplateError(
                    f"{lid}: policy {policy!r} (a managed policy?) is not modelled by the IAM judge"
                )
        return statements

    def verdict(self, function: str, action: str, resource: str) -> str | None:
        """None if `function`'s role allows `action` on `resource`; else why not."""
        role = self.roles.get(function)
        if role is None:
            return "not a function of this template"
        if any(s.effect == "Deny" and s.covers(action, resource) for s in role):
            return "an explicit Deny statement covers it"
        if any(s.effect == "Allow" and s.covers(action, resource) for s in role):
            return None
        elsewhere = {r for s in role if s.effect == "Allow" and s.covers_action(action) for r in s.resources}
        if elsewhere:
            # a table's "/index/*" next to the table itself says nothing new
            shown = sorted(
                _short(r) for r in elsewhere if not (r.endswith("/index/*") and r[:-8] in elsewhere)
            )
            return f"its policies allow {action} only on: {', '.join(shown)}"
        return f"none of its policies allows {action}"


def _short(arn: str) -> str:
    """An ARN without partition, service, region and account (`table/X`), as a verdict names it."""
    parts = arn.split(":", 5)
    return parts[5] if len(parts) == 6 else arn


# ---------------------------------------------------------------------------- what a call asks


def requested_permissions(
    service: str, operation: str, params: dict[str, Any], region: str, account_id: str = ACCOUNT_ID
) -> list[Permission]:
    """The (action, resource) pairs IAM evaluates for one API call; `service` is the IAM prefix."""
    arn_prefix = f"arn:{PARTITION}:{service}:{region}:{account_id}"
    if service == "dynamodb":
        return _dynamodb_permissions(operation, params, arn_prefix)
    if service == "sqs":
        action = _SQS_BATCH_ACTIONS.get(operation, f"sqs:{operation}")
        if "QueueUrl" in params:
            _, queue_account, queue = str(params["QueueUrl"]).rstrip("/").rsplit("/", 2)
            return [(action, f"arn:{PARTITION}:sqs:{region}:{queue_account}:{queue}")]
        if "QueueName" in params:
            return [(action, f"{arn_prefix}:{params['QueueName']}")]
    # CreateSecret names its secret by `Name`; its resource is that secret all the same (AWS Service
    # Authorization Reference, AWS Secrets Manager: CreateSecret, resource type Secret).
    if service == "secretsmanager" and ("SecretId" in params or operation == "CreateSecret"):
        secret = str(params.get("SecretId") or params.get("Name"))
        return [
            (
                f"secretsmanager:{operation}",
                _arn_or(secret, f"{arn_prefix}:secret:{secret}{_SECRET_ARN_SUFFIX}"),
            )
        ]
    if service == "ssm" and ("Name" in params or "Names" in params or "Path" in params):
        names = _as_list(params.get("Name") or params.get("Names") or params.get("Path"))
        return [(f"ssm:{operation}", f"{arn_prefix}:parameter/{str(n).lstrip('/')}") for n in names]
    if service == "states":
        target = params.get("stateMachineArn") or params.get("executionArn")
        if target:
            return [(f"states:{operation}", str(target))]
    if service == "lambda" and "FunctionName" in params:
        action = "lambda:InvokeFunction" if operation in ("Invoke", "InvokeAsync") else f"lambda:{operation}"
        name = str(params["FunctionName"])
        qualifier = f":{params['Qualifier']}" if params.get("Qualifier") else ""
        return [(action, _arn_or(name, f"{arn_prefix}:function:{name}{qualifier}"))]
    return [(f"{service}:{operation}", "*")]


def _dynamodb_permissions(operation: str, params: dict[str, Any], arn_prefix: str) -> list[Permission]:
    def table(name: Any) -> str:
        return _arn_or(str(name), f"{arn_prefix}:table/{name}")

    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            (_TRANSACTION_ITEM_ACTIONS[kind], table(body["TableName"]))
            for item in params.get("TransactItems") or []
            for kind, body in item.items()
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table(name)) for name in params.get("RequestItems") or {}]
    if "TableName" not in params:
        return [(f"dynamodb:{operation}", "*")]
    resource = table(params["TableName"])
    if operation in ("Query", "Scan") and params.get("IndexName"):
        resource = f"{resource}/index/{params['IndexName']}"
    return [(f"dynamodb:{operation}", resource)]


def _arn_or(name: str, arn: str) -> str:
    return name if name.startswith("arn:") else arn


# ------------------------------------------------------------------------------- recorder


class CallRecorder:
    """Judges the calls handlers make against the running stack's judge; keeps the violations."""

    def __init__(self) -> None:
        self.judge: IamJudge | None = None
        self.violations: list[Violation] = []
        self.judged: dict[str, int] = {}  # function -> distinct (action, resource) pairs judged
        self._verdicts: dict[tuple[str, str, str], str | None] = {}
        self._lock = threading.Lock()

    def judge_with(self, judge: IamJudge | None) -> None:
        """The judge of the stack that runs now (None: nothing runs, nothing is judged)."""
        with self._lock:
            self.judge = judge
            self._verdicts = {}

    def record(self, function: str, service: str, operation: str, params: dict[str, Any]) -> None:
        judge = self.judge
        if judge is None:
            return
        for action, resource in requested_permissions(
            service, operation, params, judge.region, judge.account_id
        ):
            key = (function, action, resource)
            if key in self._verdicts:
                continue
            with self._lock:
                if key in self._verdicts or judge is not self.judge:
                    continue
                why = judge.verdict(function, action, resource)
                self._verdicts[key] = why
                self.judged[function] = self.judged.get(function, 0) + 1
                if why is not None:
                    violation = Violation(function, action, resource, why)
                    self.violations.append(violation)
                    LOG.warning("AWS would refuse this call: %s", violation)  # make serve / make demo

    @property
    def calls_judged(self) -> int:
        """Distinct (function, action, resource) triples judged (again after a stack restart)."""
        return sum(self.judged.values())

    def check_calls(self) -> list[Violation]:
        """The violations recorded so far, in the order they first happened."""
        return list(self.violations)

    @contextmanager
    def isolated(self, judge: IamJudge) -> Iterator[CallRecorder]:
        """For tests: judge with `judge` and collect violations apart; everything back afterwards."""
        saved = (self.judge, self.violations, self.judged, self._verdicts)
        with self._lock:
            self.judge, self.violations, self.judged, self._verdicts = judge, [], {}, {}
        try:
            yield self
        finally:
            with self._lock:
                self.judge, self.violations, self.judged, self._verdicts = saved


RECORDER = CallRecorder()


def check_calls() -> list[Violation]:
    """Every violation recorded in this process."""
    return RECORDER.check_calls()


# --------------------------------------------------------------------------- botocore hook

_EVENT = "before-parameter-build"
_iam_prefixes: dict[str, str] = {}


def _on_api_call(params: dict[str, Any], model: Any, **_: Any) -> None:
    function = RUNNING_FUNCTION.get()
    if function is None:
        return
    service_model = model.service_model
    prefix = _iam_prefixes.get(service_model.service_name)
    if prefix is None:
        # IAM's service prefix is the signing name (Step Functions signs as "states").
        prefix = _iam_prefixes[service_model.service_name] = service_model.signing_name
    RECORDER.record(function, prefix, model.name, params)


def install() -> None:
    """Hook every botocore session created from now on (boto3's, PynamoDB's own per connection,
    `botocore.session.get_session()`) and boto3's default session if it exists already.

    botocore registers `botocore.handlers.BUILTIN_HANDLERS` on each new session; PynamoDB builds a
    session of its own per connection (pynamodb.connection.base.Connection.session), so the
    built-in list is the one place that reaches all of them.
    """
    from botocore import handlers

    if (_EVENT, _on_api_call) not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append((_EVENT, _on_api_call))
    import boto3

    if boto3.DEFAULT_SESSION is not None:
        boto3.DEFAULT_SESSION._session.unregister(_EVENT, _on_api_call)
        boto3.DEFAULT_SESSION._session.register(_EVENT, _on_api_call)
