"""The signature check, without a server (the end-to-end check is in test_http_handler.py)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from dominion import HandlerError, parse_job_request, sign, verify_signature

BODY = json.dumps({"id": "j-1", "type": "send_invoice", "attempt": 2, "payload": {"invoice": 42}}).encode()


def test_sign_matches_hmac_sha256_hex() -> None:
    want = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", BODY) == want
    assert verify_signature("s3cret", BODY, want)
    assert verify_signature(b"s3cret", BODY.decode(), want)


@pytest.mark.parametrize("secret, body, signature", [
    ("other", BODY, sign("s3cret", BODY)),            # wrong secret
    ("s3cret", BODY + b" ", sign("s3cret", BODY)),    # body changed
    ("s3cret", BODY, None),                           # no header
    ("s3cret", BODY, "sha256=zz"),                    # garbage
    ("s3cret", BODY, "sha256=\u00e9"),                # not ASCII
    ("", BODY, sign("", BODY)),                       # no secret verifies nothing
])
def test_verify_refuses(secret: str, body: bytes, signature: str) -> None:
    assert not verify_signature(secret, body, signature)


def test_parse_job_request() -> None:
    headers = {"x-dominion-signature": sign("s3cret", BODY), "Idempotency-Key": "j-1"}
    job = parse_job_request(BODY, headers, "s3cret")
    assert (job.id, job.type, job.attempt, job.payload, job.idempotency_key) == ("j-1", "send_invoice", 2, {"invoice": 42}, "j-1")


def test_parse_job_request_refusals() -> None:
    with pytest.raises(HandlerError) as e:
        parse_job_request(BODY, {}, "s3cret")
    assert e.value.status == 401 and "missing" in str(e.value)
    with pytest.raises(HandlerError) as e:
        parse_job_request(BODY, {"X-Dominion-Signature": sign("wrong", BODY)}, "s3cret")
    assert e.value.status == 401 and "does not match" in str(e.value)
    for body in (b"not json", b"[1]", b'{"id": 1}'):
        with pytest.raises(HandlerError) as e:
            parse_job_request(body, {"X-Dominion-Signature": sign("s3cret", body)}, "s3cret")
        assert e.value.status == 400


def test_deadline_header_in_go_format() -> None:
    headers = {"X-Dominion-Signature": sign("s3cret", BODY), "Dominion-Deadline": "2026-11-30T20:01:02.123456789Z"}
    job = parse_job_request(BODY, headers, "s3cret")
    assert job.deadline is not None and job.deadline.isoformat() == "2026-11-30T20:01:02.123456+00:00"
