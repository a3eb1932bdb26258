"""The client against a real dominion serve (embedded queue and store, in a temporary directory)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from dominion import Client, DominionError, JobSpec


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_enqueue_and_wait_for_result(client: Client) -> None:
    job_id = client.enqueue("dominion.sleep", {"ms": 20}, retries=2, timeout=30)
    job = client.wait(job_id, timeout=30)
    assert job.state == "completed"
    assert job.attempts == 1
    assert job.payload == {"ms": 20}
    assert job.max_retries == 2
    assert job.done


def test_enqueue_many_reports_duplicates_per_job(client: Client) -> None:
    fixed = uid("fixed")
    answers = client.enqueue_many([
        JobSpec("dominion.noop", id=fixed),
        {"type": "dominion.noop", "id": fixed},  # the API's own form
        JobSpec("dominion.noop", payload={"n": 3}),
    ])
    assert [a.enqueued for a in answers] == [True, False, True]
    assert answers[1].error is not None and answers[1].error.code == "duplicate_id"
    for a in (answers[0], answers[2]):
        assert client.wait(a.id, timeout=30).state == "completed"


def test_single_duplicate_raises_409(client: Client) -> None:
    fixed = uid("once")
    client.enqueue("dominion.noop", id=fixed)
    with pytest.raises(DominionError) as e:
        client.enqueue("dominion.noop", id=fixed)
    assert e.value.status == 409 and e.value.code == "duplicate_id"


def test_unique_key_refuses_a_second_live_job(client: Client) -> None:
    key = uid("key")
    client.enqueue("dominion.noop", queue="parked-py", unique_key=key, unique_ttl=dt.timedelta(hours=1))
    with pytest.raises(DominionError) as e:
        client.enqueue("dominion.noop", queue="parked-py", unique_key=key, unique_ttl=3600)
    assert e.value.code == "duplicate_unique"


def test_failing_job_goes_dead_then_retry_reruns_it(client: Client) -> None:
    job_id = client.enqueue("dominion.fail", {"message": "boom", "retryable": False}, retries=5)
    dead = client.wait(job_id, timeout=30)
    assert dead.state == "dead"
    assert len(dead.errors) == 1 and "boom" in dead.errors[0]["error"]
    assert client.retry(job_id) == "pending"
    again = client.wait(job_id, timeout=30)
    assert again.state == "dead" and len(again.errors) == 2


def test_cancel_a_delayed_job_and_delete_it(client: Client) -> None:
    job_id = client.enqueue("dominion.noop", delay=3600)
    assert client.get_job(job_id).state == "scheduled"
    assert client.cancel(job_id) == "canceled"
    with pytest.raises(DominionError) as e:
        client.cancel(job_id)
    assert e.value.status == 409 and e.value.code == "conflict"
    client.delete(job_id)
    with pytest.raises(DominionError) as e:
        client.get_job(job_id)
    assert e.value.status == 404 and e.value.code == "not_found"


def test_run_at_and_list_jobs(client: Client) -> None:
    queue = uid("q")  # no worker serves it: the jobs stay where they are
    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    ids = [client.enqueue("dominion.noop", queue=queue, run_at=at) for _ in range(3)]
    ids += [client.enqueue("dominion.noop", queue=queue) for _ in range(2)]
    listed = list(client.list_jobs(queue, page_size=2))
    assert sorted(j.id for j in listed) == sorted(ids)
    scheduled = list(client.list_jobs(queue, state="scheduled"))
    assert len(scheduled) == 3 and all(j.state == "scheduled" for j in scheduled)
    stats = {q["name"]: q for q in client.queues()}
    assert stats[queue]["pending"] == 2 and stats[queue]["scheduled"] == 3
    with pytest.raises(ValueError):
        client.enqueue("dominion.noop", run_at=dt.datetime(2030, 1, 1))  # naive: refused locally


def test_priority_deadline_and_rate_key(client: Client) -> None:
    queue = uid("q")  # no worker serves it: the jobs stay pending, in priority order
    deadline = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=1)
    low = client.enqueue("dominion.noop", queue=queue, priority=-3)
    high = client.enqueue("dominion.noop", queue=queue, priority=4, deadline=deadline, rate_key="customer:42")
    soon = client.enqueue_many([JobSpec("dominion.noop", queue=queue, deadline=90)])[0].id
    assert [j.id for j in client.list_jobs(queue, state="pending")] == [high, soon, low]
    job = client.get_job(high)
    assert job.priority == 4 and job.rate_key == "customer:42"
    assert dt.datetime.fromisoformat(job.deadline.replace("Z", "+00:00")) == deadline
    left = dt.datetime.fromisoformat(client.get_job(soon).deadline.replace("Z", "+00:00")) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(seconds=60) < left <= dt.timedelta(seconds=90)
    assert client.get_job(low).rate_key is None
    with pytest.raises(DominionError) as e:
        client.enqueue("dominion.noop", rate_key="customer 42")
    assert e.value.status == 400 and e.value.field == "rate_key"
    with pytest.raises(DominionError) as e:
        client.enqueue("dominion.noop", priority=9)
    assert e.value.status == 400 and e.value.field == "priority"


def test_depends_on(client: Client) -> None:
    parent = client.enqueue("dominion.noop", delay=0.3)
    child = client.enqueue("dominion.noop", depends_on=[parent])
    assert client.get_job(child).state == "waiting" and client.get_job(child).depends_on == [parent]
    anyway, orphan = client.enqueue_many([
        JobSpec("dominion.noop", depends_on=[child], run_on_parent_failure=True),
        JobSpec("dominion.noop", depends_on=["no-such-job"]),
    ])
    assert anyway.enqueued and anyway.state == "waiting"
    assert not orphan.enqueued and orphan.error is not None
    assert orphan.error.status == 422 and orphan.error.code == "parent_not_found"
    with pytest.raises(DominionError) as e:
        client.enqueue("dominion.noop", depends_on=["no-such-job"])
    assert e.value.status == 422 and e.value.code == "parent_not_found" and e.value.field == "depends_on"
    done = client.wait(anyway.id, timeout=15)
    assert done.state == "completed"
    at = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    assert at(client.get_job(child).finished_at) <= at(done.started_at)


def test_wait_times_out_with_a_clear_error(client: Client) -> None:
    job_id = client.enqueue("dominion.noop", queue=uid("unserved"))
    with pytest.raises(DominionError) as e:
        client.wait(job_id, timeout=0.2)
    assert e.value.code == "timeout" and "pending" in e.value.message


def test_bad_input_names_the_field(client: Client) -> None:
    with pytest.raises(DominionError) as e:
        client.enqueue_many([JobSpec("dominion.noop"), JobSpec("dominion.noop", queue="no spaces")])
    assert e.value.status == 400 and e.value.field == "jobs[1].queue"


def test_token_is_required(server) -> None:
    anonymous = Client(server.url, token=None)
    with pytest.raises(DominionError) as e:
        anonymous.enqueue("dominion.noop")
    assert e.value.status == 401 and e.value.code == "unauthorized"
    wrong = Client(server.url, token="not-the-token")
    with pytest.raises(DominionError) as e:
        wrong.get_job("x")
    assert e.value.status == 401


def test_unreachable_server_is_a_network_error() -> None:
    with pytest.raises(DominionError) as e:
        Client("http://127.0.0.1:9", timeout=2).get_job("x")
    assert e.value.code == "network"


def test_submit_workflow_runs_it(client: Client) -> None:
    answer = client.submit_workflow(
        "agent_jermaine_super_action", "customer_followup",
        {"tasks_per_week": 20, "time_per_task_minutes": 5, "hourly_wage": 25, "automation_percent": 80},
    )
    assert answer["status"] == "queued" and answer["savings"]["weekly_savings"] == 33.33
    wf = client.wait_workflow(answer["workflow_id"], timeout=60)
    assert wf["status"] == "completed"
    job = client.get_job(answer["job_id"])
    assert job.type == "execute_workflow" and job.queue == "workflows"


def test_submit_workflow_idempotency_key(client: Client) -> None:
    inputs = {"tasks_per_week": 20, "time_per_task_minutes": 5, "hourly_wage": 25, "automation_percent": 80}
    first = client.submit_workflow("agent_idem", "customer_followup", inputs, idempotency_key="py-key-1")
    again = client.submit_workflow("agent_idem", "customer_followup", inputs, idempotency_key="py-key-1")
    assert again["workflow_id"] == first["workflow_id"]
    with pytest.raises(DominionError) as e:
        client.submit_workflow("agent_other", "customer_followup", inputs, idempotency_key="py-key-1")
    assert e.value.status == 422 and e.value.code == "idempotency_key_reused"
    assert client.get_workflow(first["workflow_id"])["agent_id"] == "agent_idem"


def test_submit_workflow_bad_input(client: Client) -> None:
    with pytest.raises(DominionError) as e:
        client.submit_workflow("a", "customer_followup",
                               {"tasks_per_week": 20, "time_per_task_minutes": 5, "hourly_wage": 25, "automation_percent": 180})
    assert e.value.status == 400 and e.value.code == "out_of_range"
    assert e.value.field == "context.calculator_inputs.automation_percent"
