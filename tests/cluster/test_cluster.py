"""Many hosts, one truth: partitions, a broker restart and two API hosts, on a cluster of network
namespaces (harness.py). Each scenario checks that the API answered throughout, that every epoch
was recorded once and in order, and that after the reconciler's next sweep no object is left that
the records do not reference. Timings are printed as `[cluster timing]` lines (`-s` shows them)."""

from __future__ import annotations

import time

import pytest

from .checks import (
    api_answering,
    epochs_once_in_order,
    no_orphans,
    nothing_overwritten,
    recorded_by_one_attempt,
    timings,
)
from .harness import Cluster

EPOCHS = 4
FINISHED = ("succeeded", "failed", "cancelled")
GIVEN_AWAY = "given to another worker"  # the training worker's line when it finds its job taken
SAMPLE_LOST = "no longer held by this attempt"  # the sampling worker's


def follow(cluster: Cluster, job_id: int, node: str, timeout: float = 60, watch: str | None = None) -> dict:
    """Poll the job from the moment its worker `node` was cut off until it ends: the epochs it had
    recorded then, the seconds until it was taken from `node` (requeued), until it ran on another
    worker, until it finished; with `watch`, every object key seen under that prefix meanwhile."""
    began, seen = time.monotonic(), set()
    times: dict[str, float] = {}
    last: list[dict] = []

    def ended() -> dict | None:
        job = cluster.job(job_id)
        last[:] = [job]
        now = time.monotonic() - began
        times.setdefault("recorded_before_cut", len(job["epochs"]))
        if "requeued" not in times and (job["status"] == "queued" or job["worker"] != node):
            times["requeued"] = now
        if "resumed" not in times and job["status"] == "running" and job["worker"] != node:
            times["resumed"] = now
        if watch:
            seen.update(cluster.agent.call("objects", prefixes=[watch]))
        return {"job": job, "finished": now, "seen": seen, **times} if job["status"] in FINISHED else None

    try:
        return cluster.wait(f"job {job_id} to finish", ended, timeout, 0.25)
    except TimeoutError:
        open_transactions = "\n".join(cluster.agent.call("activity"))
        raise TimeoutError(
            f"job {job_id} did not finish in {timeout} s: {last[0]}\nopen transactions:\n{open_transactions}"
        ) from None


def into_second_epoch(cluster: Cluster, job_id: int) -> dict:
    """The job once its first epoch is recorded and its second under way (its heartbeat reports
    progress): cut off now, its worker is training, not between epochs."""
    return cluster.wait(
        f"job {job_id}'s second epoch under way",
        lambda: (j := cluster.job(job_id))["epochs"] and j["progress"] > 0 and j,
        120,
        0.05,
    )


def noticed(cluster: Cluster, node: str, since: int, needle: str, timeout: float = 60) -> float:
    """Seconds until `node`'s log, past offset `since`, says `needle`."""
    service, began = cluster.workers[node], time.monotonic()
    cluster.wait(f"{node} to log {needle!r}", lambda: needle in service.log_text()[since:], timeout)
    return time.monotonic() - began


def partitioned_job(cluster: Cluster, api: str, cut, heal, watch_lease: bool = False) -> tuple[dict, dict]:
    """A job submitted through `api`, its worker's host cut off (`cut(host)`) once the job's second
    epoch is under way, healed (`heal(host)`) once the job finished elsewhere; returns what `follow`
    saw and the seconds until the cut-off worker noticed and until the reconciler swept what it
    stored. `watch_lease`: every object seen under the cut-off attempt's lease is in `seen`."""
    job_id = cluster.submit(api, epochs=EPOCHS)
    first = into_second_epoch(cluster, job_id)
    node = first["worker"]
    host, since = cluster.host_of(node), len(cluster.workers[node].log_text())
    cut(host)
    try:
        moved = follow(cluster, job_id, node, watch=f"jobs/{job_id}/{first['lease']}/" if watch_lease else None)
    finally:
        heal(host)
    seconds = {"noticed_after_heal": noticed(cluster, node, since, GIVEN_AWAY)}
    seconds["orphans_swept_after"] = no_orphans(cluster)
    job = moved["job"]
    assert job["status"] == "succeeded" and job["worker"] != node, job
    epochs_once_in_order(job, EPOCHS)
    recorded_by_one_attempt(job, moved["recorded_before_cut"] + 1)
    nothing_overwritten(cluster, job)
    return moved, seconds


def moved_figures(moved: dict) -> dict[str, float]:
    """Seconds after the cut until the job was requeued, resumed on another worker, finished."""
    return {"requeued": moved["requeued"], "resumed_elsewhere": moved["resumed"], "finished": moved["finished"]}


def test_a_training_host_cut_off_mid_epoch(cluster: Cluster):
    with api_answering(cluster) as probe:
        moved, seconds = partitioned_job(cluster, "api1", cluster.network.cut, cluster.network.heal)
    timings("a. training host cut off", probe, **moved_figures(moved), **seconds)


def test_b_training_host_cut_off_from_the_database_only(cluster: Cluster):
    database = cluster.address("infra", 1)
    with api_answering(cluster) as probe:
        moved, seconds = partitioned_job(
            cluster,
            "api2",
            lambda host: cluster.network.block(host, database),
            lambda host: cluster.network.unblock(host, database),
            watch_lease=True,
        )
    # object storage was still reachable: the cut-off attempt stored its next epoch under its own
    # lease, where nothing reads it, and the sweep removed it
    job = moved["job"]
    recorded = tuple(e["key"].rstrip("/") + "/" for e in job["epochs"])
    fenced = sorted(key for key in moved["seen"] if not key.startswith(recorded))
    assert fenced, f"the cut-off attempt stored nothing it did not record: {sorted(moved['seen'])}"
    assert not set(fenced) & set(cluster.agent.call("objects", prefixes=[f"jobs/{job['id']}/"])), fenced
    timings("b. training host cut off from the database", probe, **moved_figures(moved), **seconds)


@pytest.fixture(scope="module")
def trained(cluster: Cluster) -> int:
    """A finished job to sample from: one of the scenarios' own, else a short one."""
    listed = cluster.api("api1", "GET", "/api/v1/jobs?status=succeeded", token=cluster.token)
    items = listed["json"]["items"] if listed["status"] == 200 else []
    if items:
        return items[0]["id"]
    job_id = cluster.submit("api1", epochs=2)
    cluster.wait("a job to sample from", lambda: cluster.job(job_id)["status"] in FINISHED, 120)
    return job_id


SAMPLE = {"temperature": 0.75, "precision": "float32", "random_seed": 1}
SAMPLE_LENGTH = 300_000


def start_sample(cluster: Cluster, job_id: int) -> tuple[int, dict]:
    body = {"length": SAMPLE_LENGTH, **SAMPLE}
    made = cluster.api("api2", "POST", f"/api/v1/jobs/{job_id}/samples", token=cluster.token, json_body=body)
    assert made["status"] == 202, made
    sample_id = made["json"]["id"]
    running = cluster.wait(
        f"sample {sample_id} under way",
        lambda: (s := cluster.agent.call("sample", sample_id=sample_id))["progress"] > 0 and s,
        60,
        0.05,
    )
    return sample_id, running


def final_sample(cluster: Cluster, sample_id: int) -> dict:
    return cluster.wait(
        f"sample {sample_id} to end",
        lambda: (s := cluster.agent.call("sample", sample_id=sample_id))["status"] in FINISHED and s,
        120,
    )


def test_c_sampling_host_cut_off_briefly_mid_sample(cluster: Cluster, trained: int):
    """Cut off for less than HEARTBEAT_TIMEOUT: the sample goes on and ends once, with one text."""
    with api_answering(cluster) as probe:
        sample_id, running = start_sample(cluster, trained)
        cluster.network.cut("sampler")
        time.sleep(1.5)  # cut off for less than HEARTBEAT_TIMEOUT
        cluster.network.heal("sampler")
        healed = time.monotonic()
        sample = final_sample(cluster, sample_id)
        ended = time.monotonic() - healed
        swept = no_orphans(cluster)
    assert sample["status"] == "succeeded" and sample["attempts"] == 1, sample
    assert f"-{sample['lease']}" in sample["object_key"], sample
    stored = cluster.agent.call("objects", prefixes=[f"samples/{sample_id}"])
    assert list(stored) == [sample["object_key"]], stored
    text = cluster.api("api1", "GET", f"/api/v1/samples/{sample_id}/text", token=cluster.token)
    assert text["status"] == 200 and text["chars"] == SAMPLE_LENGTH, (text["status"], text["chars"])
    timings("c. sampling host cut off 1.5 s", probe, ended_after_heal=ended, orphans_swept_after=swept)


def test_c_sampling_host_cut_off_past_the_heartbeat_timeout(cluster: Cluster, trained: int):
    """Cut off until the reconciler fails the sample: it ends once (failed, its worker lost), and the
    text the cut-off worker may still store is never referenced and is swept."""
    with api_answering(cluster) as probe:
        since = len(cluster.workers["sampling@S"].log_text())
        sample_id, running = start_sample(cluster, trained)
        cluster.network.cut("sampler")
        cut = time.monotonic()
        try:
            failed = final_sample(cluster, sample_id)
            ended = time.monotonic() - cut
        finally:
            cluster.network.heal("sampler")
        healed = noticed(cluster, "sampling@S", since, SAMPLE_LOST)
        swept = no_orphans(cluster)
        sample = cluster.agent.call("sample", sample_id=sample_id)
    assert failed["status"] == "failed" and failed["object_key"] is None, failed
    assert sample == failed, (failed, sample)  # it ended once: the worker that came back changed nothing
    assert cluster.agent.call("objects", prefixes=[f"samples/{sample_id}"]) == {}
    timings("c. sampling host cut off", probe, failed_after=ended, noticed_after_heal=healed, orphans_swept_after=swept)


def test_d_broker_restarted_without_persistence_while_a_job_trains(cluster: Cluster):
    with api_answering(cluster) as probe:
        job_id = cluster.submit("api2", epochs=EPOCHS)
        into_second_epoch(cluster, job_id)
        gone = cluster.restart_redis()
        restarted = time.monotonic()
        job = cluster.wait("the job to finish", lambda: (j := cluster.job(job_id))["status"] in FINISHED and j, 120)
        finished = time.monotonic() - restarted
        swept = no_orphans(cluster)
    assert job["status"] == "succeeded" and job["attempts"] == 1 and job["requeues"] == 0, job
    epochs_once_in_order(job, EPOCHS)
    nothing_overwritten(cluster, job)
    timings("d. broker restarted", probe, broker_gone=gone, finished_after_restart=finished, orphans_swept_after=swept)


def test_e_two_api_hosts_serve_one_user(cluster: Cluster):
    """No proxy: a token works on both hosts, and a browser's session and CSRF token made on one are
    good on the other (one SECRET_KEY, one database)."""
    lists = [cluster.api(api, "GET", "/api/v1/jobs", token=cluster.token) for api in ("api1", "api2")]
    assert [r["status"] for r in lists] == [200, 200] and lists[0]["json"] == lists[1]["json"], lists
    browser = "browser"
    csrf = cluster.agent.call("csrf", api="api1", session=browser)
    login = cluster.api("api1", "POST", "/login", session=browser, data={"csrf_token": csrf, "token": cluster.token})
    assert login["status"] == 302 and login["location"].endswith("/jobs"), login
    page = cluster.api("api2", "GET", "/jobs", session=browser)
    assert page["status"] == 200 and "cluster-user" in page["text"], page["status"]
    form_token = cluster.agent.call("csrf", api="api1", session=browser, path="/jobs")
    out = cluster.api("api2", "POST", "/logout", session=browser, data={"csrf_token": form_token})
    assert out["status"] == 302 and out["location"].endswith("/login"), out
    after = cluster.api("api1", "GET", "/jobs", session=browser)
    assert after["status"] == 302 and "/login" in after["location"], after
