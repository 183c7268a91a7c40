"""Reading a SAM/CloudFormation template and resolving its intrinsics locally.

`load_template` understands the CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`, ...) and
turns them into their long form (`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`), so the rest of the local
stack deals with one shape only. `Resolver` evaluates intrinsics against local values: parameters
(defaults, overridable), pseudo parameters, conditions, and the physical names/ARNs the local stack
gives each resource.

Physical names (documented choice): a resource's own name property if the template sets one
(`TableName`, `QueueName`, `FunctionName`, `Name`, `StateMachineName`, ...), otherwise its logical
id unchanged (`CompaniesTable`, `RetellWebhookFunction`). Logical ids are unique within a template,
so local names never collide, and a name in a log line points straight at the template.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

# ------------------------------------------------------------------------------------- YAML


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short-form intrinsic tags."""


def _construct_tag(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    long_name = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                # !GetAtt Resource.Attribute (attribute names may contain dots: split at the first)
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {long_name: value}

    return construct


for _tag in (
    "Ref",
    "Condition",
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "Select",
    "Split",
    "FindInMap",
    "Equals",
    "Not",
    "And",
    "Or",
    "Base64",
    "Cidr",
    "GetAZs",
    "ImportValue",
    "Transform",
    "Length",
    "ToJsonString",
):
    _CfnLoader.add_constructor(f"!{_tag}", _construct_tag(_tag))


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation template (YAML or JSON) into plain long-form data."""
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=_CfnLoader)
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources section)")
    return data


class TemplateError(Exception):
    """The template cannot be run locally (unresolvable reference, unsupported construct, ...)."""


# ---------------------------------------------------------------------------------- helpers

NAME_PROPERTIES: Mapping[str, str] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Events::EventBus": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SSM::Parameter": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
}

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


def local_api_id(logical_id: str) -> str:
    """API Gateway ids are 10 lower-case alphanumerics: a stable one per logical id."""
    return hashlib.sha1(logical_id.encode()).hexdigest()[:10]


def camel_to_upper_snake(name: str) -> str:
    """`CalcomApiKey` -> `CALCOM_API_KEY`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).upper()


# --------------------------------------------------------------------------------- resolver


class Resolver:
    """Evaluates CloudFormation intrinsics against local values.

    `physical_name(logical_id)` and `attribute(logical_id, attr)` may be overridden per resource
    with `set_ref` / `set_attribute` (the stack does so for values only known after creation,
    like queue URLs).
    """

    def __init__(
        self,
        template: dict[str, Any],
        *,
        region: str,
        parameter_values: Mapping[str, Any],
        stack_name: str = "calbridge",
        account_id: str = ACCOUNT_ID,
        queue_url_base: str | None = None,
    ) -> None:
        self.template = template
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.parameters = dict(parameter_values)
        self.resources: dict[str, dict[str, Any]] = template.get("Resources") or {}
        self.mappings: dict[str, Any] = template.get("Mappings") or {}
        self.queue_url_base = queue_url_base
        self._refs: dict[str, Any] = {}
        self._attrs: dict[tuple[str, str], Any] = {}
        self._names: dict[str, str] = {}
        self._conditions: dict[str, bool] = {}
        self._resolving: set[str] = set()

    # -- overrides ------------------------------------------------------------------------
    def set_ref(self, logical_id: str, value: Any) -> None:
        self._refs[logical_id] = value

    def set_attribute(self, logical_id: str, attr: str, value: Any) -> None:
        self._attrs[(logical_id, attr)] = value

    # -- conditions -----------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    def resource_enabled(self, logical_id: str) -> bool:
        cond = self.resources.get(logical_id, {}).get("Condition")
        return True if cond is None else self.condition(cond)

    # -- names and attributes -------------------------------------------------------------
    def resource_type(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id]["Type"]
        except KeyError:
            raise TemplateError(f"reference to unknown resource or parameter {logical_id!r}") from None

    def physical_name(self, logical_id: str) -> str:
        if logical_id in self._names:
            return self._names[logical_id]
        rtype = self.resource_type(logical_id)
        props = self.resources[logical_id].get("Properties") or {}
        prop = NAME_PROPERTIES.get(rtype)
        name: str | None = None
        if prop and props.get(prop) is not None:
            if logical_id in self._resolving:
                raise TemplateError(f"circular reference while naming {logical_id}")
            self._resolving.add(logical_id)
            try:
                name = str(self.resolve(props[prop]))
            finally:
                self._resolving.discard(logical_id)
        if name is None:
            name = logical_id
            if rtype == "AWS::SQS::Queue" and props.get("FifoQueue"):
                name += ".fifo"
        self._names[logical_id] = name
        return name

    def arn(self, logical_id: str) -> str:
        rtype = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        r, a, p = self.region, self.account_id, PARTITION
        if rtype == "AWS::DynamoDB::Table":
            return f"arn:{p}:dynamodb:{r}:{a}:table/{name}"
        if rtype == "AWS::SQS::Queue":
            return f"arn:{p}:sqs:{r}:{a}:{name}"
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:{p}:lambda:{r}:{a}:function:{name}"
        if rtype in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return f"arn:{p}:states:{r}:{a}:stateMachine:{name}"
        if rtype == "AWS::Scheduler::Schedule":
            props = self.resources[logical_id].get("Properties") or {}
            group = self.resolve(props.get("GroupName", "default"))
            return f"arn:{p}:scheduler:{r}:{a}:schedule/{group}/{name}"
        if rtype == "AWS::Scheduler::ScheduleGroup":
            return f"arn:{p}:scheduler:{r}:{a}:schedule-group/{name}"
        if rtype == "AWS::Events::Rule":
            return f"arn:{p}:events:{r}:{a}:rule/{name}"
        if rtype == "AWS::Events::EventBus":
            return f"arn:{p}:events:{r}:{a}:event-bus/{name}"
        if rtype == "AWS::SecretsManager::Secret":
            return f"arn:{p}:secretsmanager:{r}:{a}:secret:{name}-local"
        if rtype == "AWS::Logs::LogGroup":
            return f"arn:{p}:logs:{r}:{a}:log-group:{name}:*"
        if rtype == "AWS::SNS::Topic":
            return f"arn:{p}:sns:{r}:{a}:{name}"
        if rtype == "AWS::IAM::Role":
            return f"arn:{p}:iam::{a}:role/{name}"
        if rtype in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return f"arn:{p}:lambda:{r}:{a}:layer:{name}:1"
        service = rtype.split("::")[1].lower() if rtype.count("::") >= 2 else "local"
        return f"arn:{p}:{service}:{r}:{a}:{logical_id}"

    def ref(self, logical_id: str) -> Any:
        if logical_id in self._refs:
            return self._refs[logical_id]
        pseudo = self._pseudo(logical_id)
        if pseudo is not _MISSING:
            return pseudo
        if logical_id in self.parameters:
            return self.parameters[logical_id]
        rtype = self.resource_type(logical_id)
        if rtype == "AWS::SQS::Queue":
            base = self.queue_url_base or f"https://sqs.{self.region}.{URL_SUFFIX}"
            return f"{base}/{self.account_id}/{self.physical_name(logical_id)}"
        if rtype in (
            "AWS::Serverless::StateMachine",
            "AWS::StepFunctions::StateMachine",
            "AWS::SecretsManager::Secret",
            "AWS::SNS::Topic",
            "AWS::Serverless::LayerVersion",
            "AWS::Lambda::LayerVersion",
        ):
            return self.arn(logical_id)
        if rtype in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api", "AWS::ApiGatewayV2::Api"):
            return local_api_id(logical_id)
        return self.physical_name(logical_id)

    def attribute(self, logical_id: str, attr: str) -> Any:
        if (logical_id, attr) in self._attrs:
            return self._attrs[(logical_id, attr)]
        rtype = self.resource_type(logical_id)
        if attr == "Arn":
            return self.arn(logical_id)
        if rtype == "AWS::SQS::Queue":
            if attr == "QueueName":
                return self.physical_name(logical_id)
            if attr == "QueueUrl":
                return self.ref(logical_id)
        if attr in ("Name", "QueueName", "TableName", "StateMachineName"):
            return self.physical_name(logical_id)
        if rtype == "AWS::DynamoDB::Table" and attr == "StreamArn":
            return f"{self.arn(logical_id)}/stream/1970-01-01T00:00:00.000"
        if attr == "ApiEndpoint":
            return f"https://{self.ref(logical_id)}.execute-api.{self.region}.{URL_SUFFIX}"
        if attr == "Id":
            return self.ref(logical_id)
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attr} is not supported by the local stack")

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:{PARTITION}:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }.get(name, _MISSING)

    # -- intrinsics -----------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic inside `value`; `AWS::NoValue` removes the key/item."""
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._fn(key[4:], arg)
        out_map = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out_map.items() if v is not _NO_VALUE}

    def _fn(self, fn: str, arg: Any) -> Any:
        if fn == "GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            logical_id, attr = self.resolve(arg[0]), self.resolve(arg[1])
            return self.attribute(logical_id, attr)
        if fn == "Sub":
            return self._sub(arg)
        if fn == "Join":
            sep, items = arg
            return str(self.resolve(sep)).join(str(i) for i in self.resolve(items))
        if fn == "If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond) else no)
        if fn == "Select":
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            return items[int(index)]
        if fn == "Split":
            sep, text = self.resolve(arg[0]), self.resolve(arg[1])
            return str(text).split(sep)
        if fn == "FindInMap":
            name, top, second = (self.resolve(a) for a in arg[:3])
            try:
                return self.mappings[name][top][second]
            except KeyError:
                if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                    return self.resolve(arg[3]["DefaultValue"])
                raise TemplateError(f"Fn::FindInMap {name}/{top}/{second} not found") from None
        if fn == "Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if fn == "Not":
            return not self._truth(arg[0])
        if fn == "And":
            return all(self._truth(a) for a in arg)
        if fn == "Or":
            return any(self._truth(a) for a in arg)
        if fn == "Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if fn == "GetAZs":
            return [f"{self.region}{s}" for s in "abc"]
        if fn == "Length":
            return len(self.resolve(arg))
        if fn == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if fn == "ImportValue":
            raise TemplateError(f"Fn::ImportValue {arg!r}: cross-stack imports are not available locally")
        raise TemplateError(f"Fn::{fn} is not supported by the local stack")

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and set(value) == {"Condition"}:
            return self.condition(value["Condition"])
        resolved = self.resolve(value)
        if isinstance(resolved, str):
            return resolved.lower() == "true"
        return bool(resolved)

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return _scalar(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attr = name.split(".", 1)
                return _scalar(self.attribute(logical_id, attr))
            return _scalar(self.ref(name))

        out = _SUB_VAR.sub(replace, str(text))
        return out.replace("${!", "${")


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_MISSING = _Sentinel("MISSING")
_NO_VALUE = _Sentinel("AWS::NoValue")


def substitute_definition(text: str, substitutions: Mapping[str, Any]) -> str:
    """SAM's DefinitionSubstitutions: replace `${Name}` in an ASL text; unknown names stay."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in substitutions:
            return _scalar(substitutions[name])
        return match.group(0)

    return re.sub(r"\$\{([A-Za-z0-9_.:]+)\}", replace, text)


def definition_placeholders(text: str) -> set[str]:
    """The `${Name}` placeholders an ASL text uses."""
    return set(re.findall(r"\$\{([A-Za-z0-9_.:]+)\}", text))
