"""The seed's Flask app with RQ replaced by Dominion.

Before (the seed's flask_dashboard.py)::

    redis_conn = redis.from_url(os.getenv("REDIS_URL", "redis://localhost:6379/0"))
    queue = Queue("workflows", connection=redis_conn)
    ...
    action = workflow_engine.create_action(...)
    job = queue.enqueue(execute_workflow, workflow_id=action.id)

and a separate ``rq worker workflows`` process importing ``worker_tasks.py``.

After: ``POST /api/chat`` hands the workflow to Dominion, which stores it, runs it on its own
workers (the ``execute_workflow`` job of ``dominion serve``) and records its metrics; the answer
is Dominion's (202 with the workflow id and a status URL). What the seed's worker task did in
Python is now a step of the workflow type (``workflows.yaml``): Dominion's worker calls this
app's view ``POST /hooks/followup``, signed with the shared secret, and the view checks the
signature before doing the work. A 2xx answer lets the workflow go on; a 5xx or a timeout is
retried with backoff, as RQ's ``Retry`` would; a 4xx fails the workflow at once.

A plain job type can be served by a view too, as an RQ task was by the worker: the handler file
(``handlers.yaml``, ``DOMINION_HANDLERS``) maps the job type ``notify_agent`` to the view
``POST /jobs/notify_agent``. Anyone enqueues it (``POST /api/agents/<id>/notify`` here, the
Python client's ``enqueue``, ``POST /api/jobs``, ``dominion enqueue``); Dominion's worker POSTs the
job to the view, which checks the signature with ``parse_job_request``; a 2xx answer completes
the job with the view's JSON as its result, a 4xx sends it to dead, a 5xx retries it.

Configuration (environment, or ``app.config`` in tests)::

    DOMINION_URL       where dominion serve listens (default http://localhost:8080)
    DOMINION_API_TOKEN its API token
    APP_SECRET         the secret Dominion signs its requests to this app with

Run it: ``flask --app app run --port 5000`` next to ``dominion serve`` started with
``DOMINION_WORKFLOWS=workflows.yaml`` and ``DOMINION_HANDLERS=handlers.yaml`` (see README.md).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, List

from flask import Flask, current_app, jsonify, request

from dominion import (
    HEADER_IDEMPOTENCY,
    HEADER_SIGNATURE,
    Client,
    DominionError,
    HandlerError,
    parse_job_request,
    verify_signature,
)

app = Flask(__name__)
app.config.update(
    DOMINION_URL=os.environ.get("DOMINION_URL", "http://localhost:8080"),
    DOMINION_API_TOKEN=os.environ.get("DOMINION_API_TOKEN"),
    APP_SECRET=os.environ.get("APP_SECRET", ""),
)

# The follow-ups done, by idempotency key: a request repeated after a crash is recognised
# and not done twice. A real app keeps this in its database.
_followups: Dict[str, Dict[str, Any]] = {}
_notifications: Dict[str, Dict[str, Any]] = {}  # the notify_agent jobs done, the same way
_lock = threading.Lock()


def dominion() -> Client:
    return Client(current_app.config["DOMINION_URL"], token=current_app.config["DOMINION_API_TOKEN"])


@app.post("/api/chat")
def chat():
    """The seed's endpoint: in execute mode, submit the workflow to Dominion and answer at once."""
    body = request.get_json(silent=True) or {}
    if body.get("mode") != "execute":
        return jsonify(error="this example only forwards execute mode"), 400
    context = dict(body.get("context") or {})
    try:
        accepted = dominion().submit_workflow(
            agent_id=body.get("agent_id", ""),
            workflow_type=context.pop("workflow_type", ""),
            calculator_inputs=context.pop("calculator_inputs", {}),
            context=context,
        )
    except DominionError as e:
        # Dominion's own validation error, passed on as it is (400 names the field).
        status = e.status if 400 <= e.status < 500 else 502
        return jsonify(error={"code": e.code, "message": e.message, "field": e.field}), status
    print(f"Enqueued workflow {accepted['workflow_id']} to Dominion (job {accepted['job_id']})")
    return jsonify(accepted), 202


@app.post("/hooks/followup")
def followup():
    """The workflow's follow_up step, called by Dominion's worker with the workflow as JSON."""
    body = request.get_data()
    if not verify_signature(current_app.config["APP_SECRET"], body, request.headers.get(HEADER_SIGNATURE)):
        return jsonify(error="bad signature"), 401  # 4xx: the workflow fails, not retried
    wf = request.get_json()
    key = request.headers.get(HEADER_IDEMPOTENCY) or wf["workflow_id"]
    with _lock:
        done = _followups.get(key)
        if done is None:
            done = {"workflow_id": wf["workflow_id"], "agent_id": wf["agent_id"], "attempt": wf["attempt"],
                    "message": f"Follow-up sent: saves ${wf['savings']['weekly_savings']:.2f}/week"}
            _followups[key] = done
    return jsonify(done)  # 2xx: the step is done; this is its output


@app.post("/api/agents/<agent_id>/notify")
def notify(agent_id: str):
    """Enqueue a notify_agent job, as the seed enqueued an RQ task; answer with its id."""
    message = (request.get_json(silent=True) or {}).get("message", "")
    try:
        job_id = dominion().enqueue("notify_agent", {"agent_id": agent_id, "message": message}, retries=3)
    except DominionError as e:
        status = e.status if 400 <= e.status < 500 else 502
        return jsonify(error={"code": e.code, "message": e.message, "field": e.field}), status
    return jsonify(job_id=job_id), 202


@app.post("/jobs/notify_agent")
def notify_agent():
    """The job type notify_agent, run by this view (handlers.yaml) when Dominion's worker sends it."""
    try:
        job = parse_job_request(request.get_data(), request.headers, current_app.config["APP_SECRET"])
    except HandlerError as e:
        return jsonify(error=str(e)), e.status  # 401 or 400: the job is dead, not retried
    payload = job.payload if isinstance(job.payload, dict) else {}
    if not payload.get("agent_id"):
        return jsonify(error="payload.agent_id is required"), 422  # dead: retrying cannot help
    key = job.idempotency_key or job.id
    with _lock:
        done = _notifications.get(key)
        if done is None:
            done = {"agent_id": payload["agent_id"], "message": payload.get("message", ""), "job_id": job.id,
                    "attempt": job.attempt}
            _notifications[key] = done
    return jsonify(notified=done)  # 2xx: the job is completed; this is its result


@app.get("/api/followups")
def followups():
    with _lock:
        items: List[Dict[str, Any]] = list(_followups.values())
    return jsonify(followups=items)


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "5000")))
