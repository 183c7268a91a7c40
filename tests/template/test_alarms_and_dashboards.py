"""Checks of the operations part of template.yaml (issue 14, ADR 0035).

* every dashboard body is JSON once its `${...}` are put in, and every metric a widget names (in
  its metrics, or in a SEARCH or Metrics Insights expression) is one our code emits
  (tests/metric_names.py, the catalogue's own scanner) or an AWS service's;
* every alarm, metric or composite, tells AlertsTopic; every metric an alarm watches is emitted by
  our code or by AWS; every alarm a composite alarm or a deployment's rollback names exists;
* every alarm has its runbook entry (a `##` heading of docs/runbook.md naming it);
* AlertsTopic's e-mail subscription exists only with an AlertEmail; the Retell function deploys
  through its alias with the critical alarms as rollback triggers, and its provisioned concurrency
  is the parameter's (none at 0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local.template import Resolver, load_template
from tests.metric_names import is_emitted

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
RUNBOOK = REPO / "docs" / "runbook.md"
OUR_NAMESPACE = "Calbridge"
AWS_NAMESPACES = {"AWS/Lambda", "AWS/States", "AWS/DynamoDB", "AWS/SQS", "AWS/ApiGateway"}
METRIC_ALARM = "AWS::CloudWatch::Alarm"
COMPOSITE_ALARM = "AWS::CloudWatch::CompositeAlarm"
CRITICAL_ALARMS = {
    "BookingSuccessCriticalAlarm",
    "ResponseTimeCriticalAlarm",
    "CalcomBreakerOpenAlarm",
    "DatabaseErrorsAlarm",
}


def resolver(**parameters: Any) -> Resolver:
    values = {name: spec.get("Default", "x") for name, spec in TEMPLATE["Parameters"].items()}
    return Resolver(TEMPLATE, region="eu-central-1", parameter_values=values | parameters)


def of_type(rtype: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in RESOURCES.items() if r["Type"] == rtype}


ALARMS = of_type(METRIC_ALARM) | of_type(COMPOSITE_ALARM)
DASHBOARDS = of_type("AWS::CloudWatch::Dashboard")


def dashboard_body(lid: str) -> dict[str, Any]:
    return json.loads(resolver().resolve(DASHBOARDS[lid]["Properties"]["DashboardBody"]))


def expression_metrics(expression: str) -> set[tuple[str, str]]:
    """(namespace, metric) pairs a SEARCH or Metrics Insights expression names."""
    found: set[tuple[str, str]] = set()
    for schema, name in re.findall(r"SEARCH\(\s*'\{([^,}]+)[^}]*\}[^']*MetricName=\"([^\"]+)\"", expression):
        found.add((schema.strip().strip('"'), name))
    for name, namespace in re.findall(r"SELECT\s+\w+\((\w+)\)\s+FROM\s+(?:SCHEMA\()?\"?([\w/]+)", expression):
        found.add((namespace, name))
    return found


def widget_metrics(widget: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric) pairs a metric widget names; `.` repeats the row above's value."""
    found: set[tuple[str, str]] = set()
    previous: list[Any] = []
    for row in widget["properties"].get("metrics", []):
        values = [v for v in row if not isinstance(v, dict)]
        options = next((v for v in row if isinstance(v, dict)), {})
        if "expression" in options:
            found |= expression_metrics(options["expression"])
            continue
        values = [previous[i] if v == "." and i < len(previous) else v for i, v in enumerate(values)]
        found.add((values[0], values[1]))
        previous = values
    return found


def alarm_metrics(props: dict[str, Any]) -> set[tuple[str, str]]:
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    found: set[tuple[str, str]] = set()
    for query in props.get("Metrics", []):
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            found.add((metric["Namespace"], metric["MetricName"]))
        elif "SELECT" in query.get("Expression", "").upper():
            found |= expression_metrics(query["Expression"])
    return found


def unknown(metrics: set[tuple[str, str]]) -> list[str]:
    return sorted(
        f"{namespace}/{name}"
        for namespace, name in metrics
        if not (namespace in AWS_NAMESPACES or (namespace == OUR_NAMESPACE and is_emitted(name)))
    )


# ------------------------------------------------------------------------ dashboards


def test_the_seeds_three_dashboards_exist() -> None:
    names = {resolver().resolve(d["Properties"]["DashboardName"]) for d in DASHBOARDS.values()}
    assert names == {"calbridge-booking-kpis", "calbridge-performance", "calbridge-operational"}


@pytest.mark.parametrize("lid", sorted(DASHBOARDS))
def test_every_dashboard_widget_names_a_metric_our_code_or_aws_emits(lid: str) -> None:
    widgets = dashboard_body(lid)["widgets"]
    metric_widgets = [w for w in widgets if w["type"] == "metric"]
    assert metric_widgets
    for widget in metric_widgets:
        named = widget_metrics(widget)
        assert named, f"{lid}: widget {widget['properties']['title']!r} names no metric"
        assert not unknown(named), f"{lid}: {widget['properties']['title']!r} names metrics no code emits"


def test_the_metric_checks_catch_a_name_no_code_emits() -> None:
    widget = {"properties": {"metrics": [["Calbridge", "NoSuchMetricAnywhere", "service", "calbridge"]]}}
    assert unknown(widget_metrics(widget)) == ["Calbridge/NoSuchMetricAnywhere"]
    search = "SEARCH('{Calbridge,tool,service} MetricName=\"NoSuchLatency\"', 'p95', 300)"
    assert unknown(expression_metrics(search)) == ["Calbridge/NoSuchLatency"]
    assert unknown({("Custom/Elsewhere", "Duration")}) == ["Custom/Elsewhere/Duration"]


def test_the_health_widget_shows_every_alarm() -> None:
    arns = {
        a
        for w in dashboard_body("OperationalDashboard")["widgets"]
        if w["type"] == "alarm"
        for a in w["properties"]["alarms"]
    }
    r = resolver()
    assert arns == {r.attribute(lid, "Arn") for lid in ALARMS}


# ------------------------------------------------------------------------ alarms


@pytest.mark.parametrize("lid", sorted(ALARMS))
def test_every_alarm_tells_the_alerts_topic(lid: str) -> None:
    assert {"Ref": "AlertsTopic"} in ALARMS[lid]["Properties"].get("AlarmActions", [])


@pytest.mark.parametrize("lid", sorted(of_type(METRIC_ALARM)))
def test_every_alarm_watches_a_metric_our_code_or_aws_emits(lid: str) -> None:
    watched = alarm_metrics(resolver().resolve(RESOURCES[lid]["Properties"]))
    assert watched
    assert not unknown(watched)


@pytest.mark.parametrize("lid", sorted(ALARMS))
def test_every_alarm_has_a_runbook_entry(lid: str) -> None:
    headings = [line for line in RUNBOOK.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]
    assert any(f"`{lid}`" in heading for heading in headings), f"no '## ... `{lid}` ...' in docs/runbook.md"


def test_the_seeds_thresholds() -> None:
    def threshold(lid: str) -> tuple[str, float]:
        props = RESOURCES[lid]["Properties"]
        return props["ComparisonOperator"], props["Threshold"]

    assert threshold("BookingSuccessCriticalAlarm") == ("LessThanThreshold", 90)
    assert threshold("BookingSuccessWarningAlarm") == ("LessThanThreshold", 95)
    assert threshold("ResponseTimeCriticalAlarm") == ("GreaterThanThreshold", 2000)
    assert threshold("ResponseTimeWarningAlarm") == ("GreaterThanThreshold", 1500)
    for lid in ("ResponseTimeCriticalAlarm", "ResponseTimeWarningAlarm"):
        stats = [q["MetricStat"] for q in RESOURCES[lid]["Properties"]["Metrics"] if "MetricStat" in q]
        assert {s["Stat"] for s in stats} == {"p95"}
        assert {s["Metric"]["MetricName"] for s in stats} == {"ToolLatency"}
    assert threshold("SlotCacheMissWarningAlarm") == ("GreaterThanThreshold", 20)
    assert threshold("TeamSyncFailureSpikeAlarm") == ("GreaterThanOrEqualToThreshold", 3)
    assert threshold("DatabaseErrorsAlarm") == ("GreaterThanThreshold", 0)
    # the breaker's 30 s cool-down (CALCOM_BREAKER_COOLDOWN_S) passed and its probe failed again
    assert RESOURCES["CalcomBreakerOpenAlarm"]["Properties"]["MetricName"] == "CalcomBreakerReopened"


def test_the_critical_composite_is_any_critical_alarm() -> None:
    rule = resolver().resolve(RESOURCES["CriticalAlarm"]["Properties"]["AlarmRule"])
    assert set(re.findall(r'ALARM\("([^"]+)"\)', rule)) == CRITICAL_ALARMS
    assert " AND " not in rule
    assert {"Ref": "AlertsTopic"} in RESOURCES["CriticalAlarm"]["Properties"]["OKActions"]


def test_alert_email_subscribes_only_when_given() -> None:
    subscription = RESOURCES["AlertsEmailSubscription"]
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlertsTopic"}
    assert not resolver().resource_enabled("AlertsEmailSubscription")
    assert resolver(AlertEmail="ops@salon.example").resource_enabled("AlertsEmailSubscription")
    pattern = TEMPLATE["Parameters"]["AlertEmail"]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and re.fullmatch(pattern, "ops@salon.example")
    assert not re.fullmatch(pattern, "not an address")


# ------------------------------------------------------------------------ safe deploys


def test_the_retell_function_deploys_through_its_alias_rolled_back_by_the_critical_alarms() -> None:
    props = RESOURCES["RetellWebhookFunction"]["Properties"]
    assert props["AutoPublishAlias"] == "live"
    preference = props["DeploymentPreference"]
    assert preference["Type"] == {"Ref": "RetellDeploymentType"}
    assert TEMPLATE["Parameters"]["RetellDeploymentType"]["Default"].startswith("Canary")
    assert {alarm["Ref"] for alarm in preference["Alarms"]} == CRITICAL_ALARMS
    retell_routes = {e["Properties"]["Path"] for e in props["Events"].values() if e["Type"] == "HttpApi"}
    assert retell_routes == {"/retell/inbound", "/retell/functions", "/retell/events"}


@pytest.mark.parametrize(("warm", "expected"), [(0, None), (3, {"ProvisionedConcurrentExecutions": 3})])
def test_provisioned_concurrency_is_the_parameters(warm: int, expected: dict[str, int] | None) -> None:
    props = resolver(RetellProvisionedConcurrency=warm).resolve(
        RESOURCES["RetellWebhookFunction"]["Properties"]
    )
    assert props.get("ProvisionedConcurrencyConfig") == expected
