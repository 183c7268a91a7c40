"""pytest plugin: at the end of a test run, every AWS call a Lambda handler made on the local stack
is checked against that function's policies in template.yaml (local/iam.py, ADR 0020), and any
call its role would not allow in AWS fails the run, printed with the function, the action, the
resource and why not.

The calls are judged while they happen (once per distinct function, action and resource); this
plugin reports the violations. Loaded by tests/conftest.py (`pytest_plugins`); works under
pytest-xdist too (each worker hands its violations to the controller).
"""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import RECORDER

_RESULTS = pytest.StashKey[list[dict[str, Any]]]()
_WORKER_KEY = "iam_judge"


def _result() -> dict[str, Any]:
    return {
        "judged": RECORDER.calls_judged,
        "by_function": dict(RECORDER.judged),
        "violations": [str(v) for v in RECORDER.check_calls()],
    }


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    result = _result()
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller decides
        workeroutput[_WORKER_KEY] = result
        return
    results = config.stash[_RESULTS]
    results.append(result)
    if any(r["violations"] for r in results) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist's controller: a worker's violations."""
    result = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if result is not None:
        node.config.stash[_RESULTS].append(result)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, [])
    judged = sum(r["judged"] for r in results)
    violations = sorted({v for r in results for v in r["violations"]})
    if not judged and not violations:
        return
    terminalreporter.section("IAM judge")
    terminalreporter.write_line(
        f"{judged} distinct AWS calls of Lambda handlers, checked against their policies in the template: "
        + ("no violation" if not violations else f"{len(violations)} violation(s)")
    )
    by_function: dict[str, int] = {}
    for result in results:
        for name, count in result["by_function"].items():
            by_function[name] = by_function.get(name, 0) + count
    terminalreporter.write_line(
        "  " + ", ".join(f"{name} {count}" for name, count in sorted(by_function.items()))
    )
    for violation in violations:
        terminalreporter.write_line(f"VIOLATION {violation}", red=True)
