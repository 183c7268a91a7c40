"""A local stand-in for the Cal.com API v2 endpoints calbridge uses (dev tooling, never deployed).

    from local.calcom_standin import CalcomStandIn
    standin = CalcomStandIn("local/fixtures/salon_demo.json")
    base_url = standin.start()   # http://127.0.0.1:<port>
    ...
    standin.stop()

See README.md in this folder for the endpoints, the control API under ``/_standin/`` and the
behaviour choices.
"""

from local.calcom_standin.server import CalcomStandIn, StandInApp, load_fixture

__all__ = ["CalcomStandIn", "StandInApp", "load_fixture"]
