"""pytest plugin: at the end of a test run, every request calbridge sent to a Cal.com stand-in is
checked against Cal.com's contract (docs/reference/calcom-contract), and any violation fails the
run, printed with the request and the broken rule.

"calbridge's requests" are those with calbridge's User-Agent (adapters/calcom/client.py): tests
that send malformed requests on purpose, to see the stand-in refuse them, use their own client.
Anything not clean counts (local/calcom_standin/contract.py, `check_traffic`): a rule Cal.com
enforces, a key it would strip, a hidden property, a header its docs do not want, and an answer of
the stand-in that does not fit Cal.com's response schemas. The stand-in refuses most of these as
Cal.com would already; the end-of-run check also catches those a caller swallowed (a 400 read as
"slot taken").

Loaded by tests/conftest.py (`pytest_plugins`); works under pytest-xdist too (each worker checks
its own traffic and hands the result to the controller).
"""

from __future__ import annotations

from typing import Any

import pytest

from local.calcom_standin.contract import TRAFFIC, check_traffic

USER_AGENT = "calbridge"
_RESULTS = pytest.StashKey[list[dict[str, Any]]]()
_WORKER_KEY = "calcom_contract"


def _check() -> dict[str, Any]:
    report = check_traffic(TRAFFIC.entries(user_agent_prefix=USER_AGENT))
    return {"checked": report.checked, "by_operation": report.by_operation, "violations": report.violations}


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    result = _check()
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller decides
        workeroutput[_WORKER_KEY] = result
        return
    results = config.stash[_RESULTS]
    results.append(result)
    if any(r["violations"] for r in results) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist's controller: a worker's traffic check."""
    result = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if result is not None:
        node.config.stash[_RESULTS].append(result)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, [])
    checked = sum(r["checked"] for r in results)
    violations = [v for r in results for v in r["violations"]]
    if not checked and not violations:
        return
    terminalreporter.section("Cal.com contract")
    operations: dict[str, int] = {}
    for result in results:
        for name, count in result["by_operation"].items():
            operations[name] = operations.get(name, 0) + count
    terminalreporter.write_line(
        f"{checked} requests calbridge sent to the Cal.com stand-in, checked against "
        "docs/reference/calcom-contract: "
        + ("no violation" if not violations else f"{len(violations)} violation(s)")
    )
    terminalreporter.write_line(
        "  " + ", ".join(f"{name} {count}" for name, count in sorted(operations.items()))
    )
    for violation in violations:
        terminalreporter.write_line(f"VIOLATION {violation}", red=True)
