"""Serving a Dominion job type from a Python web view.

A Dominion worker runs a job whose type the handler file (``DOMINION_HANDLERS``) maps to a URL by
POSTing the job there, signed with the type's secret. The view verifies the signature, does
the work and answers: 2xx completes the job (a JSON body is its result), 4xx kills it without
retry, 5xx retries it with the job's backoff. With Flask::

    from dominion import HandlerError, parse_job_request

    @app.post("/jobs/send_invoice")
    def send_invoice():
        try:
            job = parse_job_request(request.get_data(), request.headers, SECRET)
        except HandlerError as e:
            return {"error": str(e)}, e.status
        ...  # job.payload, job.id, job.attempt, job.idempotency_key
        return {"sent": True}

The same works in FastAPI with ``await request.body()`` and ``request.headers``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

__all__ = [
    "HEADER_SIGNATURE",
    "HEADER_IDEMPOTENCY",
    "HandlerError",
    "JobRequest",
    "parse_job_request",
    "sign",
    "verify_signature",
]

#: The header that carries ``sha256=<hex HMAC-SHA256 of the raw body>``.
HEADER_SIGNATURE = "X-Dominion-Signature"
#: The header that is the same for every delivery of a job (its id) or workflow step.
HEADER_IDEMPOTENCY = "Idempotency-Key"
#: The header with the job's deadline (RFC 3339), when it has one.
HEADER_DEADLINE = "Dominion-Deadline"

Body = Union[bytes, bytearray, str]


def sign(secret: Union[str, bytes], body: Body) -> str:
    """The signature header value Dominion sends for ``body``: ``sha256=`` and the hex HMAC."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return "sha256=" + hmac.new(key, data, hashlib.sha256).hexdigest()


def verify_signature(secret: Union[str, bytes], body: Body, signature: Optional[str]) -> bool:
    """Whether ``signature`` (the ``X-Dominion-Signature`` header) signs ``body`` with ``secret``.

    ``body`` must be the raw bytes of the request, as received: re-encoding parsed JSON changes
    them. The comparison takes constant time. An empty secret verifies nothing.
    """
    if not secret or not signature:
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), signature.strip().encode("ascii", "replace"))


class HandlerError(Exception):
    """A request the view must refuse; ``status`` is the HTTP status to answer with.

    401 for a missing or wrong signature, 400 for a body that is not a Dominion job. A 4xx
    answer sends the job to the dead state without retry, so a misconfigured secret shows as
    dead jobs with this message, not as endless retries.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class JobRequest:
    """A verified job delivered to a view."""

    id: str
    type: str
    attempt: int
    payload: Any
    idempotency_key: Optional[str]
    deadline: Optional[_dt.datetime]
    raw: Mapping[str, Any]


def parse_job_request(body: Body, headers: Mapping[str, str], secret: Union[str, bytes]) -> JobRequest:
    """Verify and decode one job delivered by a Dominion worker.

    ``headers`` is any mapping with the request's headers (Flask's and Starlette's are
    case-insensitive; a plain dict must use the names as sent). Raises :class:`HandlerError`
    when the signature does not verify or the body is not a job.
    """
    signature = _header(headers, HEADER_SIGNATURE)
    if not verify_signature(secret, body, signature):
        what = "missing" if not signature else "does not match the body"
        raise HandlerError(401, f"{HEADER_SIGNATURE} {what}: check the handler's secret")
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise HandlerError(400, f"body is not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not isinstance(doc.get("type"), str):
        raise HandlerError(400, "body is not a Dominion job: want an object with id, type, attempt and payload")
    return JobRequest(
        id=doc["id"], type=doc["type"], attempt=int(doc.get("attempt") or 0), payload=doc.get("payload"),
        idempotency_key=_header(headers, HEADER_IDEMPOTENCY), deadline=parse_time(_header(headers, HEADER_DEADLINE)),
        raw=doc,
    )


_FRACTION = re.compile(r"\.(\d{1,9})")


def parse_time(value: Optional[str]) -> Optional[_dt.datetime]:
    """An RFC 3339 time as Go writes it (``2026-11-30T20:01:02.123456789Z``), or None."""
    if not value:
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value.strip(), count=1)
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        for k, v in headers.items():
            if k.lower() == lower:
                return v
    return value
