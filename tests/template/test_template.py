"""Checks of the SAM templates and their state machine definitions.

Run on the real template.yaml (+ statemachines/*.asl.json, none or many) and on the local stack's
fixture template (tests/fixtures/sfn), so every check is exercised even while the real template
has no state machine yet.

* `sam validate --lint` and `cfn-lint` pass; `sam build` passes (slow) and the arm64 layer holds
  calbridge with its bytecode and pydantic_core's aarch64 extension;
* every `${...}` of a definition has a DefinitionSubstitution and every substitution is used;
  every ASL file is wired to a state machine; the substituted definition parses as ASL;
* every Task state (also inside Map and Parallel) has Retry and Catch;
* every function's Handler exists under its CodeUri; HttpApi routes point at an HttpApi of the
  template and no route key is claimed twice;
* (template.yaml) every SQS event source's queue has a visibility timeout of at least 6 x the
  function's timeout, partial batch responses and a dead-letter queue that keeps messages longer;
  every schedule has a RetryPolicy, a dead-letter queue and a role that may invoke its target and
  send to that queue;
* every DynamoDB key attribute is declared in AttributeDefinitions, and every declared attribute
  is a key attribute (DynamoDB rejects the table otherwise);
* the local stack's resolver understands every intrinsic of the template.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.template import Resolver, definition_placeholders, load_template, substitute_definition

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REAL = REPO / "template.yaml"
FIXTURE = REPO / "tests" / "fixtures" / "sfn" / "template.yaml"
TEMPLATES = [REAL, FIXTURE]
IDS = ["template.yaml", "fixtures/sfn"]
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # sam build looks for python3.12 on PATH
    for key in [k for k in env if k.startswith("AWS_ENDPOINT_URL")]:
        del env[key]
    return env


# ------------------------------------------------------------------------ lint (parallel)


@pytest.fixture(scope="module")
def lint_results() -> dict[str, subprocess.CompletedProcess[str]]:
    """sam validate --lint per template and cfn-lint over both, run concurrently."""
    commands = {
        f"sam:{t.name if t == REAL else 'fixture'}": [str(BIN / "sam"), "validate", "--lint", "-t", str(t)]
        for t in TEMPLATES
    }
    commands["cfn-lint"] = [str(BIN / "cfn-lint"), *(str(t) for t in TEMPLATES)]
    running = {
        name: subprocess.Popen(
            cmd, cwd=REPO, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for name, cmd in commands.items()
    }
    results = {}
    for name, process in running.items():
        out, _ = process.communicate(timeout=180)
        results[name] = subprocess.CompletedProcess(commands[name], process.returncode, out, "")
    return results


@pytest.mark.parametrize("name", ["sam:template.yaml", "sam:fixture"])
def test_sam_validate_lint(lint_results, name: str) -> None:
    result = lint_results[name]
    assert result.returncode == 0, result.stdout


def test_cfn_lint(lint_results) -> None:
    result = lint_results["cfn-lint"]
    assert result.returncode == 0, result.stdout


@pytest.mark.slow
def test_sam_build(tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    result = subprocess.run(
        [str(BIN / "sam"), "build", "--build-dir", str(build_dir), "--template-file", str(REAL)],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template = load_template(REAL)
    layers = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::LayerVersion"]
    assert layers, "the template declares no layer"
    for layer in layers:
        content = build_dir / layer / "python"
        assert (content / "calbridge" / "__init__.py").is_file(), f"{layer}: no calbridge package"
        extensions = list(content.glob("pydantic_core/_pydantic_core*.so"))
        assert extensions, f"{layer}: pydantic_core has no compiled extension"
        assert all("aarch64" in so.name for so in extensions), [so.name for so in extensions]
        # Bytecode shipped with the sources (layers/calbridge/Makefile): /opt is read-only in Lambda.
        sources = {p.stem for p in (content / "calbridge" / "services").glob("*.py")}
        compiled = {
            p.name.split(".")[0] for p in (content / "calbridge" / "services" / "__pycache__").glob("*.pyc")
        }
        assert sources and sources <= compiled, sorted(sources - compiled)


# --------------------------------------------------------------------- state machines


def asl_files() -> list[Path]:
    return sorted((REPO / "statemachines").glob("*.asl.json")) + sorted(FIXTURE.parent.glob("*.asl.json"))


def state_machines() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for template_path in TEMPLATES:
        template = load_template(template_path)
        for lid, resource in template["Resources"].items():
            if resource.get("Type") in STATE_MACHINE_TYPES:
                yield template_path, lid, resource.get("Properties") or {}


def definition_text(template_path: Path, props: dict[str, Any]) -> tuple[str, str]:
    """(text, where) of a state machine's definition, before substitution."""
    if isinstance(props.get("DefinitionUri"), str):
        path = (template_path.parent / props["DefinitionUri"]).resolve()
        return path.read_text(encoding="utf-8"), str(path.relative_to(REPO))
    if "Definition" in props:
        return json.dumps(props["Definition"]), "inline Definition"
    if isinstance(props.get("DefinitionString"), str):
        return props["DefinitionString"], "DefinitionString"
    pytest.fail(f"unsupported definition properties: {sorted(props)}")


MACHINES = list(state_machines())
MACHINE_IDS = [f"{p.parent.name}:{lid}" for p, lid, _ in MACHINES]


def test_every_asl_file_is_wired_to_a_state_machine() -> None:
    wired = {
        (template_path.parent / props["DefinitionUri"]).resolve()
        for template_path, _, props in MACHINES
        if isinstance(props.get("DefinitionUri"), str)
    }
    for path in asl_files():  # statemachines/ may hold none yet
        assert path.resolve() in wired, f"{path.relative_to(REPO)} is no state machine's DefinitionUri"
        json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("template_path", "lid", "props"), MACHINES, ids=MACHINE_IDS)
def test_definition_substitutions_match_placeholders(template_path: Path, lid: str, props: dict) -> None:
    text, where = definition_text(template_path, props)
    placeholders = definition_placeholders(text)
    substitutions = set(props.get("DefinitionSubstitutions") or {})
    assert placeholders <= substitutions, (
        f"{lid} ({where}): no substitution for {placeholders - substitutions}"
    )
    assert substitutions <= placeholders, (
        f"{lid} ({where}): unused substitutions {substitutions - placeholders}"
    )


@pytest.mark.parametrize(("template_path", "lid", "props"), MACHINES, ids=MACHINE_IDS)
def test_definition_is_valid_asl(template_path: Path, lid: str, props: dict) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    text, _ = definition_text(template_path, props)
    fake = {
        name: f"arn:aws:lambda:eu-central-1:123456789012:function:{name}"
        for name in props.get("DefinitionSubstitutions") or {}
    }
    AmazonStateLanguageParser.parse(substitute_definition(text, fake))


def tasks_without_retry_or_catch(states: dict[str, Any], path: str = "") -> list[str]:
    missing = []
    for name, state in states.items():
        where = f"{path}{name}"
        kind = state.get("Type")
        if kind == "Task" and not (state.get("Retry") and state.get("Catch")):
            missing.append(where)
        if kind == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            missing += tasks_without_retry_or_catch(processor.get("States") or {}, f"{where}/")
        if kind == "Parallel":
            for index, branch in enumerate(state.get("Branches") or []):
                missing += tasks_without_retry_or_catch(branch.get("States") or {}, f"{where}[{index}]/")
    return missing


@pytest.mark.parametrize(("template_path", "lid", "props"), MACHINES, ids=MACHINE_IDS)
def test_every_task_has_retry_and_catch(template_path: Path, lid: str, props: dict) -> None:
    text, where = definition_text(template_path, props)
    definition = json.loads(text)
    assert tasks_without_retry_or_catch(definition["States"]) == [], f"{lid} ({where})"


def test_retry_and_catch_check_looks_inside_map_and_parallel() -> None:
    ok = {"Type": "Task", "Retry": [{}], "Catch": [{}], "End": True}
    bare = {"Type": "Task", "End": True}
    states = {
        "A": ok,
        "M": {"Type": "Map", "ItemProcessor": {"States": {"In": bare}}},
        "P": {"Type": "Parallel", "Branches": [{"States": {"B": ok}}, {"States": {"C": bare}}]},
    }
    assert tasks_without_retry_or_catch(states) == ["M/In", "P[1]/C"]


# ------------------------------------------------------------------- functions, routes


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    return {
        lid: {**globals_fn, **(r.get("Properties") or {})}
        for lid, r in template["Resources"].items()
        if r.get("Type") == "AWS::Serverless::Function"
    }


@pytest.mark.parametrize("template_path", TEMPLATES, ids=IDS)
def test_every_handler_exists_under_its_code_uri(template_path: Path) -> None:
    template = load_template(template_path)
    for lid, props in functions(template).items():
        code_uri = template_path.parent / props["CodeUri"]
        module, _, func = props["Handler"].rpartition(".")
        file = code_uri / (module.replace(".", "/") + ".py")
        assert file.is_file(), f"{lid}: {file.relative_to(REPO)} missing"
        assert f"def {func}(" in file.read_text(encoding="utf-8"), f"{lid}: no def {func} in {file.name}"


@pytest.mark.parametrize("template_path", TEMPLATES, ids=IDS)
def test_every_http_api_route_has_its_api_and_one_function(template_path: Path) -> None:
    template = load_template(template_path)
    resources = template["Resources"]
    seen: dict[str, str] = {}
    for lid, props in functions(template).items():
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            ev = event.get("Properties") or {}
            api = ev.get("ApiId")
            if api is not None:
                ref = api.get("Ref") if isinstance(api, dict) else None
                assert ref in resources, f"{lid}.{event_name}: ApiId {api!r} is not a resource"
                assert resources[ref]["Type"] == "AWS::Serverless::HttpApi", f"{lid}.{event_name}"
            key = f"{str(ev.get('Method', 'ANY')).upper()} {ev.get('Path', '$default')}"
            assert key not in seen, f"route {key} claimed by {seen.get(key)} and {lid}"
            seen[key] = lid
            assert lid in resources and resources[lid]["Type"] == "AWS::Serverless::Function"


# ----------------------------------------------------------- queues and schedules


def getatt(value: Any) -> tuple[str, str] | None:
    """(logical id, attribute) of a `!GetAtt X.Attr`, else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        lid, attr = target if isinstance(target, list) else target.split(".", 1)
        return lid, attr
    return None


def sqs_event_sources(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (lid, event_name, event.get("Properties") or {})
        for lid, props in functions(template).items()
        for event_name, event in (props.get("Events") or {}).items()
        if event.get("Type") == "SQS"
    ]


def test_sqs_event_sources_fit_their_queues() -> None:
    """AWS: an event source queue's visibility timeout at least 6 x the function timeout; partial
    batch responses so one failed job never retries the others; a dead-letter queue after a few
    receives."""
    template = load_template(REAL)
    resources = template["Resources"]
    sources = sqs_event_sources(template)
    assert sources, "the template has no SQS event source"
    for lid, event_name, ev in sources:
        queue_lid, attr = getatt(ev["Queue"]) or ("", "")
        assert attr == "Arn" and resources[queue_lid]["Type"] == "AWS::SQS::Queue", f"{lid}.{event_name}"
        queue = resources[queue_lid]["Properties"]
        timeout = functions(template)[lid]["Timeout"]
        assert queue["VisibilityTimeout"] >= 6 * timeout, f"{queue_lid}: visibility < 6 x {lid} timeout"
        assert "ReportBatchItemFailures" in ev.get("FunctionResponseTypes", []), f"{lid}.{event_name}"
        redrive = queue["RedrivePolicy"]
        dlq_lid, _ = getatt(redrive["deadLetterTargetArn"]) or ("", "")
        assert resources[dlq_lid]["Type"] == "AWS::SQS::Queue" and 1 <= redrive["maxReceiveCount"] <= 10
        retention = resources[dlq_lid]["Properties"]["MessageRetentionPeriod"]
        assert retention > queue.get("MessageRetentionPeriod", 345600), (
            f"{dlq_lid} keeps messages too briefly"
        )


def test_schedules_retry_keep_what_they_could_not_deliver_and_may_invoke_their_target() -> None:
    template = load_template(REAL)
    resources = template["Resources"]
    schedules = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::Scheduler::Schedule"}
    assert schedules, "the template has no schedule"
    for lid, schedule in schedules.items():
        target = schedule["Properties"]["Target"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1, lid
        dlq_lid, _ = getatt(target["DeadLetterConfig"]["Arn"]) or ("", "")
        assert resources[dlq_lid]["Type"] == "AWS::SQS::Queue", lid
        role_lid, _ = getatt(target["RoleArn"]) or ("", "")
        role = resources[role_lid]["Properties"]
        principals = [s["Principal"]["Service"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
        assert principals == ["scheduler.amazonaws.com"], lid
        allowed = {
            (statement["Action"], getatt(statement["Resource"]))
            for policy in role["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        }
        assert ("lambda:InvokeFunction", getatt(target["Arn"])) in allowed, f"{lid}: role cannot invoke"
        assert ("sqs:SendMessage", (dlq_lid, "Arn")) in allowed, f"{lid}: role cannot use its DLQ"


# --------------------------------------------------------------------------- tables


@pytest.mark.parametrize("template_path", TEMPLATES, ids=IDS)
def test_table_key_attributes_are_declared_and_used(template_path: Path) -> None:
    template = load_template(template_path)
    for lid, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        declared = {a["AttributeName"] for a in props["AttributeDefinitions"]}
        schemas = [props["KeySchema"]]
        for index in (props.get("GlobalSecondaryIndexes") or []) + (props.get("LocalSecondaryIndexes") or []):
            schemas.append(index["KeySchema"])
        keys = {k["AttributeName"] for schema in schemas for k in schema}
        assert keys <= declared, f"{lid}: key attributes not declared: {keys - declared}"
        assert declared <= keys, f"{lid}: declared attributes that are no key: {declared - keys}"


# ---------------------------------------------------------------------- local stack


@pytest.mark.parametrize("template_path", TEMPLATES, ids=IDS)
def test_local_resolver_understands_every_intrinsic(template_path: Path) -> None:
    template = load_template(template_path)
    parameters = {name: spec.get("Default", "x") for name, spec in (template.get("Parameters") or {}).items()}
    resolver = Resolver(template, region="eu-central-1", parameter_values=parameters)
    for lid, resource in template["Resources"].items():
        resolver.resolve(resource.get("Properties") or {})
        resolver.ref(lid)
    resolver.resolve(template.get("Outputs") or {})
    resolver.resolve((template.get("Globals") or {}).get("Function") or {})
