"""The HTTP client of Dominion's job and workflow API (standard library only)."""

from __future__ import annotations

import datetime as _dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

__all__ = [
    "Client",
    "DominionError",
    "Job",
    "JobSpec",
    "Enqueued",
    "FINAL_STATES",
]

#: Job states after which nothing more happens to a job unless someone retries it.
FINAL_STATES = frozenset({"completed", "dead", "canceled"})

#: Workflow statuses after which a workflow does not change unless retried.
FINAL_WORKFLOW_STATUSES = frozenset({"completed", "failed", "canceled"})

Seconds = Union[int, float, _dt.timedelta]


class DominionError(Exception):
    """An error answer of the API: ``status`` (HTTP), ``code``, ``message`` and ``field``.

    ``code`` is the API's error code (``not_found``, ``conflict``, ``duplicate_id``, …), or
    ``network`` when the server could not be reached and ``timeout`` when a wait ran out.
    """

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.code = code
        self.message = message
        self.field = field


@dataclass
class JobSpec:
    """One job to enqueue. Durations are seconds (int or float) or ``timedelta``."""

    type: str
    payload: Any = None
    queue: Optional[str] = None
    delay: Optional[Seconds] = None
    run_at: Optional[_dt.datetime] = None
    retries: Optional[int] = None
    timeout: Optional[Seconds] = None
    id: Optional[str] = None
    unique_key: Optional[str] = None
    unique_ttl: Optional[Seconds] = None
    result_ttl: Optional[Seconds] = None
    priority: Optional[int] = None
    deadline: Optional[Union[_dt.datetime, Seconds]] = None
    rate_key: Optional[str] = None
    depends_on: Optional[Sequence[str]] = None
    run_on_parent_failure: bool = False

    def to_json(self) -> Dict[str, Any]:
        """The job as ``POST /api/jobs`` takes it."""
        out: Dict[str, Any] = {"type": self.type}
        if self.payload is not None:
            out["payload"] = self.payload
        for key, value in (("queue", self.queue), ("id", self.id), ("unique_key", self.unique_key),
                           ("max_retries", self.retries), ("priority", self.priority), ("rate_key", self.rate_key)):
            if value is not None:
                out[key] = value
        for key, seconds in (("delay_ms", self.delay), ("timeout_ms", self.timeout),
                             ("unique_ttl_ms", self.unique_ttl), ("result_ttl_ms", self.result_ttl)):
            if seconds is not None:
                out[key] = _millis(seconds)
        if self.run_at is not None:
            out["run_at"] = _rfc3339(self.run_at, "run_at")
        if self.deadline is not None:
            out["deadline"] = _rfc3339(_after_now(self.deadline), "deadline")
        if self.depends_on is not None:
            out["depends_on"] = list(self.depends_on)
        if self.run_on_parent_failure:
            out["run_on_parent_failure"] = True
        return out


@dataclass
class Enqueued:
    """The answer for one job of an enqueue: its id, and whether it was stored.

    A job refused as a duplicate (``error.code`` ``duplicate_id`` or ``duplicate_unique``, status
    409) or because a job of its ``depends_on`` does not exist (``parent_not_found``, 422) has
    ``enqueued`` false and ``error`` set; nothing was stored for it.
    """

    id: str
    queue: str
    type: str
    enqueued: bool
    state: Optional[str] = None
    error: Optional[DominionError] = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Enqueued":
        err = d.get("error")
        return cls(
            id=d.get("id", ""), queue=d.get("queue", ""), type=d.get("type", ""),
            enqueued=bool(d.get("enqueued")), state=d.get("state"),
            error=_error(409 if str(err.get("code", "")).startswith("duplicate") else 422, err) if err else None,
        )


@dataclass
class Job:
    """A job as ``GET /api/jobs/{id}`` shows it. ``raw`` holds every field the server sent."""

    id: str
    queue: str
    type: str
    state: str
    attempts: int = 0
    max_retries: int = 0
    payload: Any = None
    result: Any = None
    errors: List[Dict[str, Any]] = field(default_factory=list)
    run_at: Optional[str] = None
    enqueued_at: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    worker_id: Optional[str] = None
    priority: int = 0
    deadline: Optional[str] = None
    rate_key: Optional[str] = None
    depends_on: List[str] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """Whether the job is in a final state (completed, dead or canceled)."""
        return self.state in FINAL_STATES

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Job":
        return cls(
            id=d["id"], queue=d.get("queue", ""), type=d.get("type", ""), state=d.get("state", ""),
            attempts=int(d.get("attempts", 0)), max_retries=int(d.get("max_retries", 0)),
            payload=d.get("payload"), result=d.get("result"), errors=list(d.get("errors") or []),
            run_at=d.get("run_at"), enqueued_at=d.get("enqueued_at"), started_at=d.get("started_at"),
            finished_at=d.get("finished_at"), worker_id=d.get("worker_id"), priority=int(d.get("priority", 0)),
            deadline=d.get("deadline"), rate_key=d.get("rate_key"), depends_on=list(d.get("depends_on") or []),
            raw=dict(d),
        )


class Client:
    """A client of one Dominion server.

    ``base_url`` is where ``dominion serve`` listens (``http://localhost:8080``); ``token`` is
    its ``DOMINION_API_TOKEN``, sent as a bearer token; ``timeout`` bounds each request in
    seconds. Every method raises :class:`DominionError` for an error answer.
    """

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # Jobs

    def enqueue(self, type: str, payload: Any = None, **options: Any) -> str:
        """Enqueue one job and return its id.

        ``options`` are the fields of :class:`JobSpec`: ``queue``, ``delay`` or ``run_at``,
        ``retries``, ``timeout``, ``id``, ``unique_key`` with ``unique_ttl``, ``result_ttl``,
        ``priority`` (-5 to 5, higher first), ``deadline`` (an aware ``datetime``, or seconds or
        a ``timedelta`` from now), ``rate_key`` (the queue's limits for that key apply),
        ``depends_on`` (job IDs it waits for) and ``run_on_parent_failure``.
        A duplicate id or unique key raises :class:`DominionError` with ``status`` 409.
        """
        spec = JobSpec(type=type, payload=payload, **options)
        return str(self._request("POST", "/api/jobs", spec.to_json())["id"])

    def enqueue_many(self, jobs: Sequence[Union[JobSpec, Mapping[str, Any]]]) -> List[Enqueued]:
        """Enqueue up to 1,000 jobs in one request; one :class:`Enqueued` per job, in order.

        A job may be a :class:`JobSpec` or a dict in the API's own form. A duplicate is not a
        failure: its entry says ``enqueued=False`` with the reason. A bad job refuses the whole
        list (nothing is stored) with a :class:`DominionError` naming it (``jobs[3].queue``).
        """
        body = {"jobs": [j.to_json() if isinstance(j, JobSpec) else dict(j) for j in jobs]}
        answer = self._request("POST", "/api/jobs", body)
        return [Enqueued.from_json(d) for d in answer["jobs"]]

    def get_job(self, job_id: str) -> Job:
        """The job with that id (``DominionError`` with code ``not_found`` when there is none)."""
        return Job.from_json(self._request("GET", "/api/jobs/" + _segment(job_id)))

    def wait(self, job_id: str, timeout: float = 60.0, interval: float = 0.05) -> Job:
        """Poll the job until it is completed, dead or canceled, and return it.

        Polls every ``interval`` seconds, doubling up to one second; raises
        :class:`DominionError` with code ``timeout`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job.done:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                raise DominionError(0, "timeout", f"job {job_id} is still {job.state} after {timeout:g} s")
            time.sleep(min(interval, left))
            interval = min(interval * 2, 1.0)

    def list_jobs(self, queue: str = "default", state: Optional[str] = None, page_size: int = 100) -> Iterator[Job]:
        """Every job of a queue (in one state, or all), oldest first, page by page."""
        params: Dict[str, Any] = {"queue": queue, "limit": page_size}
        if state:
            params["state"] = state
        while True:
            page = self._request("GET", "/api/jobs?" + urllib.parse.urlencode(params))
            for d in page.get("jobs") or []:
                yield Job.from_json(d)
            cursor = page.get("next_cursor")
            if not cursor:
                return
            params["cursor"] = cursor

    def cancel(self, job_id: str) -> str:
        """Cancel a pending, scheduled or retrying job; a running one is asked to stop.

        Returns the state after the call: ``canceled``, or ``active`` while the job stops.
        """
        return str(self._request("POST", f"/api/jobs/{_segment(job_id)}/cancel")["state"])

    def retry(self, job_id: str) -> str:
        """Send a dead, canceled, retrying or scheduled job back to pending; returns its state.

        A workflow's dead or canceled ``execute_workflow`` job is not sent back: its workflow is
        retried instead (it runs again under a new job) and the job's state is returned as it is.
        """
        return str(self._request("POST", f"/api/jobs/{_segment(job_id)}/retry")["state"])

    def delete(self, job_id: str) -> None:
        """Delete a job that is not running."""
        self._request("DELETE", "/api/jobs/" + _segment(job_id))

    def queues(self) -> List[Dict[str, Any]]:
        """Every queue's counts per state, counters and paused flag."""
        return list(self._request("GET", "/api/queues")["queues"])

    def pause(self, queue: str) -> None:
        """Stop workers from starting the queue's jobs.

        A queue that does not exist (has never had a job) is refused (404), not created.
        """
        self._request("POST", f"/api/queues/{_segment(queue)}/pause")

    def resume(self, queue: str) -> None:
        """Let workers start the queue's jobs again."""
        self._request("POST", f"/api/queues/{_segment(queue)}/resume")

    # Workflows (the seed's POST /api/chat)

    def submit_workflow(self, agent_id: str, workflow_type: str, calculator_inputs: Mapping[str, float],
                        context: Optional[Mapping[str, Any]] = None,
                        idempotency_key: Optional[str] = None) -> Dict[str, Any]:
        """Run a workflow (``POST /api/chat`` in ``execute`` mode) and return the answer.

        The answer has ``workflow_id``, ``job_id``, ``status``, ``status_url`` and ``savings``.
        ``context`` adds keys to the workflow's context, stored with it as sent.
        ``idempotency_key`` (e.g. ``str(uuid.uuid4())``, kept by the caller) makes a retry of the
        same call safe: the server answers it with the workflow the first call created.
        """
        ctx = dict(context or {})
        ctx["workflow_type"] = workflow_type
        ctx["calculator_inputs"] = dict(calculator_inputs)
        body = {"agent_id": agent_id, "mode": "execute", "context": ctx}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._request("POST", "/api/chat", body, headers)

    def get_workflow(self, workflow_id: str) -> Dict[str, Any]:
        """The workflow with that id: status, steps, attempts, error, metrics."""
        return self._request("GET", "/api/workflows/" + _segment(workflow_id))

    def wait_workflow(self, workflow_id: str, timeout: float = 60.0, interval: float = 0.05) -> Dict[str, Any]:
        """Poll the workflow until it is completed, failed or canceled, and return it."""
        deadline = time.monotonic() + timeout
        while True:
            wf = self.get_workflow(workflow_id)
            if wf.get("status") in FINAL_WORKFLOW_STATUSES:
                return wf
            left = deadline - time.monotonic()
            if left <= 0:
                raise DominionError(0, "timeout", f"workflow {workflow_id} is still {wf.get('status')} after {timeout:g} s")
            time.sleep(min(interval, left))
            interval = min(interval * 2, 1.0)

    # Transport

    def _request(self, method: str, path: str, body: Any = None,
                 extra_headers: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        data = None
        headers = {"Accept": "application/json", "User-Agent": "dominion-python/0.1"}
        headers.update(extra_headers or {})
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif method == "POST":
            data = b""  # urllib would label it a form; the API takes JSON only
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise _from_answer(e.code, e.read()) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DominionError(0, "network", f"{method} {self.base_url}{path}: {reason}") from e
        return json.loads(raw) if raw else {}


def _from_answer(status: int, raw: bytes) -> DominionError:
    try:
        err = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        err = None
    if not isinstance(err, dict):
        return DominionError(status, "http_" + str(status), raw[:200].decode("utf-8", "replace"))
    return _error(status, err)


def _error(status: int, err: Mapping[str, Any]) -> DominionError:
    return DominionError(status, str(err.get("code", "")), str(err.get("message", "")), err.get("field"))


def _segment(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def _millis(seconds: Seconds) -> int:
    if isinstance(seconds, _dt.timedelta):
        seconds = seconds.total_seconds()
    return int(round(seconds * 1000))


def _after_now(t: Union[_dt.datetime, Seconds]) -> _dt.datetime:
    if isinstance(t, _dt.datetime):
        return t
    if not isinstance(t, _dt.timedelta):
        t = _dt.timedelta(seconds=t)
    return _dt.datetime.now(_dt.timezone.utc) + t


def _rfc3339(t: _dt.datetime, name: str) -> str:
    if t.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, e.g. datetime.now(timezone.utc) + timedelta(hours=1)")
    return t.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
