"""The Flask example end to end: the app on a free port, dominion serve with the app's workflow
types and handler file, the seed's request through the app, the app's view called by Dominion's
worker for a workflow step, and the job type notify_agent served by another view."""

from __future__ import annotations

import json
import pathlib
import threading
import urllib.error
import urllib.request
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from werkzeug.serving import make_server

import app as example
from dominion import Client
from dominion.testing import DominionServer

HERE = pathlib.Path(__file__).resolve().parent
SECRET = "flask-example-secret"
SEED_REQUEST = {
    "agent_id": "agent_jermaine_super_action",
    "mode": "execute",
    "context": {
        "workflow_type": "customer_followup",
        "calculator_inputs": {"tasks_per_week": 20, "time_per_task_minutes": 5,
                              "hourly_wage": 25, "automation_percent": 80},
    },
}


@pytest.fixture(scope="module")
def flask_url() -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, example.app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture(scope="module")
def dominion(dominion_bin: str, flask_url: str) -> Iterator[Client]:
    env = {"DOMINION_WORKFLOWS": str(HERE / "workflows.yaml"), "DOMINION_HANDLERS": str(HERE / "handlers.yaml"),
           "APP_URL": flask_url, "APP_SECRET": SECRET}
    with DominionServer(dominion_bin, token="flask-example-token", env=env) as server:
        example.app.config.update(DOMINION_URL=server.url, DOMINION_API_TOKEN=server.token, APP_SECRET=SECRET)
        yield server.client()


def post(url: str, body: Dict[str, Any]) -> Tuple[int, Dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def followups(flask_url: str) -> List[Dict[str, Any]]:
    with urllib.request.urlopen(flask_url + "/api/followups", timeout=10) as resp:
        return json.loads(resp.read())["followups"]


def test_chat_runs_the_workflow_through_the_apps_view(flask_url: str, dominion: Client) -> None:
    status, answer = post(flask_url + "/api/chat", SEED_REQUEST)
    assert status == 202, answer
    assert answer["status"] == "queued" and answer["savings"]["weekly_savings"] == 33.33

    workflow = dominion.wait_workflow(answer["workflow_id"], timeout=60)
    assert workflow["status"] == "completed", workflow
    # The follow_up step was done by the app's view, its signature verified.
    done = [f for f in followups(flask_url) if f["workflow_id"] == answer["workflow_id"]]
    assert len(done) == 1
    assert done[0]["agent_id"] == "agent_jermaine_super_action"
    assert done[0]["message"] == "Follow-up sent: saves $33.33/week"


def test_chat_passes_dominions_validation_error_on(flask_url: str, dominion: Client) -> None:
    bad = json.loads(json.dumps(SEED_REQUEST))
    bad["context"]["calculator_inputs"]["automation_percent"] = 180
    status, answer = post(flask_url + "/api/chat", bad)
    assert status == 400
    assert answer["error"]["field"] == "context.calculator_inputs.automation_percent"


def test_a_request_with_the_wrong_signature_is_refused_and_the_workflow_fails(flask_url: str, dominion: Client) -> None:
    example.app.config["APP_SECRET"] = "rotated-on-one-side-only"
    try:
        status, answer = post(flask_url + "/api/chat", SEED_REQUEST)
        assert status == 202, answer
        workflow = dominion.wait_workflow(answer["workflow_id"], timeout=60)
    finally:
        example.app.config["APP_SECRET"] = SECRET
    assert workflow["status"] == "failed" and workflow["attempts"] == 1  # a 4xx is not retried
    assert "401" in json.dumps(workflow)
    assert not [f for f in followups(flask_url) if f["workflow_id"] == answer["workflow_id"]]


def test_a_job_type_is_served_by_the_apps_view(flask_url: str, dominion: Client) -> None:
    status, answer = post(flask_url + "/api/agents/agent_jermaine_super_action/notify", {"message": "weekly savings ready"})
    assert status == 202, answer

    job = dominion.wait(answer["job_id"], timeout=60)
    assert job.type == "notify_agent"
    assert job.state == "completed", job
    assert job.attempts == 1 and not job.errors
    # The result is the view's answer: it verified the signature and did the work once.
    assert job.result == {"notified": {"agent_id": "agent_jermaine_super_action", "message": "weekly savings ready",
                                       "job_id": answer["job_id"], "attempt": 1}}


def test_a_job_the_view_refuses_is_dead_without_retry(flask_url: str, dominion: Client) -> None:
    refused = dominion.wait(dominion.enqueue("notify_agent", {"message": "to nobody"}, retries=3), timeout=60)
    example.app.config["APP_SECRET"] = "rotated-on-one-side-only"
    try:
        bad_signature = dominion.enqueue("notify_agent", {"agent_id": "a1"}, retries=3)
        signed_wrong = dominion.wait(bad_signature, timeout=60)
    finally:
        example.app.config["APP_SECRET"] = SECRET
    for job, status in ((signed_wrong, "401"), (refused, "422")):
        assert job.state == "dead" and job.attempts == 1, job  # a 4xx is not retried
        assert status in job.errors[-1]["error"], job.errors
