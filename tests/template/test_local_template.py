"""The local stack's template reader: short tags, intrinsics, physical names, substitutions."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.template import (
    Resolver,
    TemplateError,
    camel_to_upper_snake,
    definition_placeholders,
    load_template,
    substitute_definition,
)

TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
Mappings:
  Sizes:
    dev: {Memory: 256}
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
  IsProd: !Not [!Condition IsDev]
  Either: !Or [!Condition IsDev, !Condition IsProd]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-${Stage}-table"
  Queue:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          TABLE: !Ref Table
          TABLE_ARN: !GetAtt Table.Arn
          QUEUE: !Ref Queue
          QUEUE_ARN: !GetAtt [Queue, Arn]
          SUB_LIST: !Sub ["${Pre}-${Table}-${AWS::Region}-${AWS::AccountId}-${AWS::Partition}", {Pre: x}]
          SUB_ATTR: !Sub "${Fn.Arn}|${AWS::URLSuffix}|${!Literal}"
          JOINED: !Join ["/", [!Ref Stage, !Select [1, !Ref Names], !Select [0, !Split [".", "p.q"]]]]
          IF: !If [IsDev, dev-value, prod-value]
          GONE: !If [IsProd, x, !Ref AWS::NoValue]
          MEMORY: !FindInMap [Sizes, !Ref Stage, Memory]
          EITHER: !If [Either, "1", "0"]
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties: {Name: booking}
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
"""


@pytest.fixture
def resolver(tmp_path: Path) -> Resolver:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    template = load_template(path)
    parameters = {name: spec["Default"] for name, spec in template["Parameters"].items()}
    parameters["Names"] = parameters["Names"].split(",")
    return Resolver(template, region="eu-central-1", parameter_values=parameters, queue_url_base="http://q")


def test_short_tags_become_long_form(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Resources: {A: {Type: X, Properties: {R: !Ref B, G: !GetAtt B.Arn.Deep, S: !Sub x}}}")
    props = load_template(path)["Resources"]["A"]["Properties"]
    assert props == {"R": {"Ref": "B"}, "G": {"Fn::GetAtt": ["B", "Arn.Deep"]}, "S": {"Fn::Sub": "x"}}


def test_intrinsics_resolve_to_local_values(resolver: Resolver) -> None:
    env = resolver.resolve(resolver.resources["Fn"]["Properties"])["Environment"]["Variables"]
    assert env["TABLE"] == "calbridge-dev-table"
    assert env["TABLE_ARN"] == "arn:aws:dynamodb:eu-central-1:123456789012:table/calbridge-dev-table"
    assert env["QUEUE"] == "http://q/123456789012/Queue.fifo"
    assert env["QUEUE_ARN"] == "arn:aws:sqs:eu-central-1:123456789012:Queue.fifo"
    assert env["SUB_LIST"] == "x-calbridge-dev-table-eu-central-1-123456789012-aws"
    assert env["SUB_ATTR"] == "arn:aws:lambda:eu-central-1:123456789012:function:Fn|amazonaws.com|${Literal}"
    assert env["JOINED"] == "dev/b/p"
    assert env["IF"] == "dev-value"
    assert "GONE" not in env
    assert env["MEMORY"] == 256
    assert env["EITHER"] == "1"
    assert resolver.ref("Machine") == "arn:aws:states:eu-central-1:123456789012:stateMachine:booking"
    assert not resolver.resource_enabled("ProdOnly") and resolver.resource_enabled("Table")


def test_overrides_and_errors(resolver: Resolver) -> None:
    resolver.set_ref("Queue", "http://moto/123456789012/Queue.fifo")
    assert resolver.resolve({"Ref": "Queue"}) == "http://moto/123456789012/Queue.fifo"
    with pytest.raises(TemplateError, match="Nope"):
        resolver.resolve({"Ref": "Nope"})
    with pytest.raises(TemplateError, match="ImportValue"):
        resolver.resolve({"Fn::ImportValue": "x"})


def test_definition_substitutions() -> None:
    text = '{"A": "${StepArn}", "B": "${Other}", "C": "$.x"}'
    assert definition_placeholders(text) == {"StepArn", "Other"}
    assert substitute_definition(text, {"StepArn": "arn:1"}) == '{"A": "arn:1", "B": "${Other}", "C": "$.x"}'


def test_secret_env_names() -> None:
    from local.stack import LocalStack

    assert camel_to_upper_snake("CalcomApiKey") == "CALCOM_API_KEY"
    assert LocalStack._secret_env_name("RetellApiKeySecretName") == "RETELL_API_KEY"
    assert LocalStack._secret_env_name("CalcomApiKeySecretName") == "CALCOM_API_KEY"
    assert LocalStack._secret_env_name("CalcomWebhookSecretName") == "CALCOM_WEBHOOK_SECRET"
