"""What a function's cold start imports (issue 11's goal: importing a handler module within 400 ms,
timed by `python -m local.bench imports`, docs/benchmarks.md). The timing is the bench's; this
guard is the deterministic part of it: each handler module, imported as Lambda imports it (the
template's environment, tracing on), leaves the libraries below to the code that first needs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.template import Resolver, load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"

#: Imported on first use, never by a handler's import: library -> where it is imported.
DEFERRED = {
    "httpx": "the Cal.com client, built on first use (services/wiring.py); X-Ray patches it then",
    "httpcore": "httpx's transport, loaded when the Cal.com client is built",
    "calbridge.adapters.calcom": "the Cal.com client and models (services/wiring.py)",
    "rapidfuzz": "fuzzy name scores (domain/text.py, domain/name_matching.py)",
    "phonenumbers": "spoken phone numbers (domain/models.py)",
    "aws_lambda_powertools.utilities.idempotency": "the first once-only tool run (adapters/idempotency.py)",
    "boto3": "Powertools' idempotency's DynamoDB layer, by a changing tool's first run",
}
#: Modules only some functions need at import: module -> the code URIs that may import it.
ONLY_IN = {
    # Host mappings and name matching: host resolution, the admin API, the booking steps.
    "calbridge.adapters.store.host_mappings": {
        "functions/host_resolution/",
        "functions/admin_api/",
        "functions/booking_steps/",
    },
}

_REPORT = "import json, sys; import app; print(json.dumps(sorted(sys.modules)))"


def _code_uris() -> list[str]:
    resources = load_template(TEMPLATE)["Resources"].values()
    return sorted(
        {r["Properties"]["CodeUri"] for r in resources if r.get("Type") == "AWS::Serverless::Function"}
    )


def _lambda_environment(code_uri: str) -> dict[str, str]:
    """The template's function environment, resolved locally, as Lambda would set it (tracing on)."""
    template = load_template(TEMPLATE)
    parameters = {name: spec.get("Default", "x") for name, spec in (template.get("Parameters") or {}).items()}
    resolver = Resolver(template, region="eu-central-1", parameter_values=parameters)
    variables = resolver.resolve(template["Globals"]["Function"]["Environment"]["Variables"])
    environment = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"}
    environment.update({name: str(value) for name, value in variables.items()})
    # An SSM parameter in the template; the value it holds in AWS (docs/reference/calcom.md).
    environment["CALCOM_BASE_URL"] = "https://api.cal.com"
    environment.update(
        LAMBDA_TASK_ROOT=str(REPO / code_uri),
        AWS_LAMBDA_FUNCTION_NAME="calbridge-cold-imports",
        AWS_REGION="eu-central-1",
        PYTHONPATH=f"{REPO / 'layers/calbridge'}{os.pathsep}{REPO / code_uri}",
    )
    return environment


@pytest.mark.parametrize("code_uri", _code_uris())
def test_handler_import_leaves_libraries_to_their_first_use(code_uri: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _REPORT],
        env=_lambda_environment(code_uri),
        cwd=REPO / code_uri,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    loaded = set(json.loads(run.stdout.strip().splitlines()[-1]))
    imported = {
        module: reason
        for module, reason in DEFERRED.items()
        if module in loaded or any(name.startswith(f"{module}.") for name in loaded)
    }
    assert not imported, f"{code_uri} imports at cold start what belongs to first use: {imported}"
    for module, allowed in ONLY_IN.items():
        if code_uri not in allowed:
            assert module not in loaded, (
                f"{code_uri} imports {module} at cold start; only {sorted(allowed)} may"
            )
