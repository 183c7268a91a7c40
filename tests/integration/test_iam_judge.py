"""The IAM judge (local/iam.py, ADR 0020): SAM's policy templates expanded as SAM documents them,
the permissions a call asks for (a transaction's per-item actions, an index's ARN, batches), a call
outside a function's policies reported, and the hook on the running stack attributing a handler's
calls to its function (and nobody else's)."""

from __future__ import annotations

import copy

import pytest

from local.iam import (
    RECORDER,
    CallRecorder,
    IamJudge,
    expand_policy_template,
    requested_permissions,
    template_resolver,
)
from local.template import load_template
from tests.conftest import REPO

REGION = "eu-central-1"
ARN = f"arn:aws:dynamodb:{REGION}:123456789012"
SALON, CALLER = "+4930123456789", "+4915112345678"

# The actions of each SAM policy template the template uses, as the SAM Developer Guide lists them
# ("AWS SAM policy template list", docs.aws.amazon.com/serverless-application-model/latest/
# developerguide/serverless-policy-template-list.html).
DOCUMENTED_ACTIONS = {
    "DynamoDBReadPolicy": {
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:DescribeTable",
    },
    "DynamoDBCrudPolicy": {
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:DescribeTable",
        "dynamodb:ConditionCheckItem",
    },
    "SQSSendMessagePolicy": {"sqs:SendMessage*"},
    "SQSPollerPolicy": {
        "sqs:ChangeMessageVisibility",
        "sqs:ChangeMessageVisibilityBatch",
        "sqs:DeleteMessage",
        "sqs:DeleteMessageBatch",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    },
    "AWSSecretsManagerGetSecretValuePolicy": {"secretsmanager:GetSecretValue"},
    "LambdaInvokePolicy": {"lambda:InvokeFunction"},
}


def template() -> dict:
    return load_template(REPO / "template.yaml")


def without_statement(data: dict, function: str, action: str, resource_of: str) -> dict:
    """A copy of the template whose `function` lost the inline statement granting `action` on
    `resource_of` (the bug this judge was built for: Finalize's call note, ADR 0018)."""
    data = copy.deepcopy(data)
    policies = data["Resources"][function]["Properties"]["Policies"]
    for policy in policies:
        for statement in policy.get("Statement", []):
            if action in statement["Action"] and statement["Resource"] == {
                "Fn::GetAtt": [resource_of, "Arn"]
            }:
                policy["Statement"].remove(statement)
                return data
    raise AssertionError(f"{function} has no statement for {action} on {resource_of}")


def without_template(data: dict, function: str, name: str, table: str) -> dict:
    data = copy.deepcopy(data)
    policies = data["Resources"][function]["Properties"]["Policies"]
    policies.remove({name: {"TableName": {"Ref": table}}})
    return data


# ------------------------------------------------------------------------- the policies


def test_every_sam_policy_template_the_template_uses_expands_to_its_documented_actions():
    data = template()
    resolver = template_resolver(data, REGION)
    expanded: dict[str, set[str]] = {}
    for resource in data["Resources"].values():
        if resource["Type"] not in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            continue
        for policy in resource["Properties"].get("Policies") or []:
            if "Statement" in policy:
                continue
            ((name, arguments),) = policy.items()
            for statement in expand_policy_template(name, arguments, resolver):
                expanded.setdefault(name, set()).update(statement.actions)
    assert expanded == {name: DOCUMENTED_ACTIONS[name] for name in expanded}
    assert set(expanded) == set(DOCUMENTED_ACTIONS), "each template the template uses is checked"


def test_sam_policy_templates_name_the_resources_as_sam_documents_them():
    resolver = template_resolver(template(), REGION)
    [crud] = expand_policy_template("DynamoDBCrudPolicy", {"TableName": {"Ref": "CallsTable"}}, resolver)
    assert crud.resources == (f"{ARN}:table/CallsTable", f"{ARN}:table/CallsTable/index/*")
    [send] = expand_policy_template(
        "SQSSendMessagePolicy", {"QueueName": {"Fn::GetAtt": ["TeamSyncQueue", "QueueName"]}}, resolver
    )
    assert send.resources == (f"arn:aws:sqs:{REGION}:123456789012:TeamSyncQueue",)
    [invoke] = expand_policy_template(
        "LambdaInvokePolicy", {"FunctionName": {"Ref": "CancelLoadFunction"}}, resolver
    )
    assert invoke.resources == (f"arn:aws:lambda:{REGION}:123456789012:function:CancelLoadFunction*",)


def test_dynamodb_templates_cover_the_table_and_its_indexes_and_nothing_else():
    judge = IamJudge.from_template(REPO / "template.yaml", region=REGION)
    webhook = "RetellWebhookFunction"  # DynamoDBReadPolicy on AppointmentsTable, no write to it
    assert (
        judge.verdict(webhook, "dynamodb:Query", f"{ARN}:table/AppointmentsTable/index/by_customer_phone")
        is None
    )
    assert judge.verdict(webhook, "dynamodb:GetItem", f"{ARN}:table/AppointmentsTable") is None
    assert judge.verdict(webhook, "dynamodb:PutItem", f"{ARN}:table/AppointmentsTable") is not None
    assert judge.verdict(webhook, "dynamodb:GetItem", f"{ARN}:table/AppointmentsTable2") is not None


def test_an_inline_statement_on_a_table_arn_does_not_cover_its_indexes():
    judge = IamJudge.from_template(REPO / "template.yaml", region=REGION)
    why = judge.verdict(
        "CancelLoadFunction", "dynamodb:Query", f"{ARN}:table/AppointmentsTable/index/by_customer_phone"
    )
    assert why == "its policies allow dynamodb:Query only on: table/AppointmentsTable"


def test_secret_and_queue_templates_match_what_the_local_stack_calls():
    judge = IamJudge.from_template(REPO / "template.yaml", region=REGION)
    [(action, secret)] = requested_permissions(
        "secretsmanager", "GetSecretValue", {"SecretId": "calbridge/calcom-api-key"}, REGION
    )
    assert judge.verdict("BookingReserveHoldFunction", action, secret) is None
    assert (
        judge.verdict("BookingPlanFunction", action, secret)
        == "none of its policies allows secretsmanager:GetSecretValue"
    )
    # the Retell key is not the Cal.com key: `calbridge/retell-api-key-*` does not match it
    assert (
        judge.verdict(
            "AdminApiFunction",
            *requested_permissions(
                "secretsmanager", "GetSecretValue", {"SecretId": "calbridge/retell-api-key"}, REGION
            )[0],
        )
        is not None
    )

    queue_url = "http://127.0.0.1:5000/123456789012/TeamSyncQueue"
    [(send, queue)] = requested_permissions("sqs", "SendMessageBatch", {"QueueUrl": queue_url}, REGION)
    assert (send, queue) == ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:123456789012:TeamSyncQueue")
    assert judge.verdict("TeamSyncSchedulerFunction", send, queue) is None
    assert judge.verdict("TeamSyncSchedulerFunction", "sqs:DeleteMessage", queue) is not None


# ------------------------------------------------------------------- what a call asks for


def test_a_transaction_asks_for_each_items_own_action_on_its_table():
    params = {
        "TransactItems": [
            {"Put": {"TableName": "AppointmentsTable", "Item": {}}},
            {"Delete": {"TableName": "LeasesTable", "Key": {}}},
            {"Update": {"TableName": "CallsTable", "Key": {}, "UpdateExpression": "SET a = :a"}},
            {"ConditionCheck": {"TableName": "CompaniesTable", "Key": {}, "ConditionExpression": "x"}},
        ]
    }
    assert requested_permissions("dynamodb", "TransactWriteItems", params, REGION) == [
        ("dynamodb:PutItem", f"{ARN}:table/AppointmentsTable"),
        ("dynamodb:DeleteItem", f"{ARN}:table/LeasesTable"),
        ("dynamodb:UpdateItem", f"{ARN}:table/CallsTable"),
        ("dynamodb:ConditionCheckItem", f"{ARN}:table/CompaniesTable"),
    ]
    gets = {"TransactItems": [{"Get": {"TableName": "StaffTable", "Key": {}}}]}
    assert requested_permissions("dynamodb", "TransactGetItems", gets, REGION) == [
        ("dynamodb:GetItem", f"{ARN}:table/StaffTable")
    ]


def test_batches_ask_for_the_batch_action_on_every_table_and_an_index_query_for_the_index():
    batch = {"RequestItems": {"SlotCacheTable": {"Keys": []}, "StaffTable": {"Keys": []}}}
    assert requested_permissions("dynamodb", "BatchGetItem", batch, REGION) == [
        ("dynamodb:BatchGetItem", f"{ARN}:table/SlotCacheTable"),
        ("dynamodb:BatchGetItem", f"{ARN}:table/StaffTable"),
    ]
    query = {"TableName": "AppointmentsTable", "IndexName": "by_customer_phone"}
    assert requested_permissions("dynamodb", "Query", query, REGION) == [
        ("dynamodb:Query", f"{ARN}:table/AppointmentsTable/index/by_customer_phone")
    ]


def test_finalizes_call_note_without_its_statement_is_the_one_violation_of_its_transaction():
    """The bug that started the judge: Finalize's transaction notes the booking on the call's
    record, and without the UpdateItem statement on CallsTable AWS refuses the whole transaction."""
    transaction = {
        "TransactItems": [
            {"Put": {"TableName": "AppointmentsTable", "Item": {}}},
            {"Delete": {"TableName": "LeasesTable", "Key": {}}},
            {"Delete": {"TableName": "SlotCacheTable", "Key": {}}},
            {"Update": {"TableName": "CallsTable", "Key": {}, "UpdateExpression": "SET a = :a"}},
        ]
    }
    as_deployed = CallRecorder()
    as_deployed.judge_with(IamJudge.from_template(template(), region=REGION))
    as_deployed.record("BookingFinalizeFunction", "dynamodb", "TransactWriteItems", transaction)
    assert as_deployed.check_calls() == [] and as_deployed.calls_judged == 4

    before_the_fix = CallRecorder()
    before_the_fix.judge_with(
        IamJudge.from_template(
            without_statement(template(), "BookingFinalizeFunction", "dynamodb:UpdateItem", "CallsTable"),
            region=REGION,
        )
    )
    before_the_fix.record("BookingFinalizeFunction", "dynamodb", "TransactWriteItems", transaction)
    before_the_fix.record("BookingFinalizeFunction", "dynamodb", "TransactWriteItems", transaction)
    [violation] = before_the_fix.check_calls()
    assert (violation.function, violation.action, violation.resource) == (
        "BookingFinalizeFunction",
        "dynamodb:UpdateItem",
        f"{ARN}:table/CallsTable",
    )
    assert violation.why.startswith("its policies allow dynamodb:UpdateItem only on: ")
    assert "CallsTable" not in violation.why


def test_an_explicit_deny_wins_over_an_allow():
    data = copy.deepcopy(template())
    data["Resources"]["CancelLoadFunction"]["Properties"]["Policies"].append(
        {"Statement": [{"Effect": "Deny", "Action": "dynamodb:Get*", "Resource": "*"}]}
    )
    judge = IamJudge.from_template(data, region=REGION)
    assert judge.verdict("CancelLoadFunction", "dynamodb:GetItem", f"{ARN}:table/AppointmentsTable") == (
        "an explicit Deny statement covers it"
    )
    assert judge.verdict("CancelLoadFunction", "dynamodb:Query", f"{ARN}:table/AppointmentsTable") is None


# ----------------------------------------------------------------- on the running stack


@pytest.fixture
def phone_numbers_unreadable(fresh):
    """The running stack judged by a template whose webhook may not read the phone numbers."""
    judge = IamJudge(fresh.resolver)
    judge_without = IamJudge.from_template(
        without_template(fresh.template, "RetellWebhookFunction", "DynamoDBReadPolicy", "PhoneNumbersTable"),
        region=fresh.region,
    )
    assert judge.roles.keys() == judge_without.roles.keys()
    with RECORDER.isolated(judge_without) as recorder:
        yield recorder


def test_a_handlers_call_outside_its_policies_is_reported_with_its_function(phone_numbers_unreadable, retell):
    response = retell.inbound(CALLER, SALON)
    assert response.status_code == 200 and response.json()["call_inbound"]["metadata"], response.text

    violations = phone_numbers_unreadable.check_calls()
    assert violations, "the inbound route reads the dialled number"
    assert {(v.function, v.resource) for v in violations} == {
        ("RetellWebhookFunction", f"arn:aws:dynamodb:{REGION}:123456789012:table/PhoneNumbersTable")
    }
    assert all("PhoneNumbersTable" not in v.why for v in violations)


def test_calls_outside_a_handler_are_not_judged(phone_numbers_unreadable, stack):
    stack.boto3_client("dynamodb").get_item(TableName="PhoneNumbersTable", Key={"phone_number": {"S": SALON}})
    assert phone_numbers_unreadable.calls_judged == 0 and phone_numbers_unreadable.check_calls() == []
