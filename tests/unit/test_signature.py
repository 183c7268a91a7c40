import json
from pathlib import Path

import pytest

from calbridge.adapters.retell.signature import sign, verify
from calbridge.errors import SignatureInvalid

VECTORS = json.loads((Path(__file__).parents[1] / "fixtures/retell/signature_vectors.json").read_text())
KEY = "key_TEST_ONLY_not_a_real_retell_key"
TS = 1778572902000


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["file"])
def test_reference_vectors_verify_one_second_later(vector):
    raw = vector["raw_body"].encode("utf-8")
    assert sign(raw, vector["api_key"], vector["timestamp_ms"]) == vector["x_retell_signature"]
    verify(raw, vector["x_retell_signature"], vector["api_key"], now_ms=vector["timestamp_ms"] + 1000)


def test_reserialised_json_does_not_verify():
    vector = VECTORS[1]  # call_ended, non-ASCII transcript
    reserialised = json.dumps(json.loads(vector["raw_body"])).encode()
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(reserialised, vector["x_retell_signature"], KEY, now_ms=TS)


def test_tampered_body_is_rejected():
    raw = b'{"event":"call_started"}'
    header = sign(raw, KEY, TS)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(raw.replace(b"started", b"ended"), header, KEY, now_ms=TS)


def test_wrong_key_is_rejected():
    raw = b"{}"
    with pytest.raises(SignatureInvalid):
        verify(raw, sign(raw, "another_key", TS), KEY, now_ms=TS)


@pytest.mark.parametrize("skew_ms", [300_001, -300_001, 86_400_000])
def test_stale_or_future_timestamps_are_rejected(skew_ms):
    raw = b"{}"
    with pytest.raises(SignatureInvalid, match="stale"):
        verify(raw, sign(raw, KEY, TS), KEY, now_ms=TS + skew_ms)


@pytest.mark.parametrize("skew_ms", [300_000, -300_000, 0])
def test_edges_of_the_window_are_accepted(skew_ms):
    raw = b"{}"
    verify(raw, sign(raw, KEY, TS), KEY, now_ms=TS + skew_ms)


@pytest.mark.parametrize(
    "header",
    [
        "",
        None,
        "v=1778572902000",
        "d=" + "a" * 64,
        "v=1778572902000,d=" + "A" * 64,  # upper-case hex
        "v=1778572902000,d=" + "a" * 63,
        "v=1778572902000,d=" + "a" * 64 + ",x=1",
        "sha256=" + "a" * 64,
        "v=abc,d=" + "a" * 64,
    ],
)
def test_malformed_or_missing_headers_are_rejected(header):
    with pytest.raises(SignatureInvalid):
        verify(b"{}", header, KEY, now_ms=TS)
