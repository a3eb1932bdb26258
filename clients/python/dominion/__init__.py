"""Python client for Dominion, the background-job and workflow system.

- :class:`Client` talks to ``dominion serve``'s HTTP API: enqueue one job or many, get, wait
  for, cancel, retry and delete jobs, and submit workflows (the seed's ``POST /api/chat``).
- :func:`parse_job_request` and :func:`verify_signature` let a Flask or FastAPI view serve a job
  type that Dominion's handler file maps to its URL.

Standard library only; Python 3.9 or newer.
"""

from .client import FINAL_STATES, Client, DominionError, Enqueued, Job, JobSpec
from .handler import (
    HEADER_IDEMPOTENCY,
    HEADER_SIGNATURE,
    HandlerError,
    JobRequest,
    parse_job_request,
    sign,
    verify_signature,
)

__all__ = [
    "FINAL_STATES",
    "HEADER_IDEMPOTENCY",
    "HEADER_SIGNATURE",
    "Client",
    "DominionError",
    "Enqueued",
    "HandlerError",
    "Job",
    "JobRequest",
    "JobSpec",
    "parse_job_request",
    "sign",
    "verify_signature",
]
__version__ = "0.1.0"
