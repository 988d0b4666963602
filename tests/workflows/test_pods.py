"""Workflows as a cluster runs them, without a cluster (tests/workflows/pods.py): every task in its own
process started by Flyte's pod entrypoint from its serialized spec, with its own empty PRSGAZER_HOME,
configured only by what the spec carries (forwarded settings, Flyte secrets), sharing nothing but a
remote — `file://` and S3 (moto on 127.0.0.1). `prs_report`, `reference_distributions` and
`cohort_scores` give the same CIDs as a plain local run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from prsgazer import runner

from . import pods
from .conftest import store_cohort, store_person

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

IDS = ["PGS900001", "PGS900002", "PGS900003", "PGS900004"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class SharedRemote:
    """A remote as a deployer configures it: what pods get (URL, options without credentials), the
    cluster's secret store, and the credentials an uploading laptop uses."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    laptop_options: dict[str, Any] = field(default_factory=dict)

    def launch_env(self) -> dict[str, str]:
        env = {"PRSGAZER_REMOTE": self.url}
        if self.options:
            env["PRSGAZER_REMOTE_OPTIONS"] = json.dumps(self.options)
        return env


def _s3(request: pytest.FixtureRequest) -> SharedRemote:
    """A bucket on the moto server; pods get its endpoint, the credentials are the cluster's secrets."""
    s3 = request.getfixturevalue("s3_options")
    bucket = request.getfixturevalue("s3_bucket")
    options = {"endpoint_url": s3["endpoint_url"], "client_kwargs": s3["client_kwargs"]}
    secrets = {"prsgazer-aws-access-key-id": s3["key"], "prsgazer-aws-secret-access-key": s3["secret"]}
    return SharedRemote("s3", f"s3://{bucket}/prsgazer", options, secrets, laptop_options=s3)


@pytest.fixture(params=["file", "s3"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> SharedRemote:
    if request.param == "file":
        return SharedRemote("file", f"file://{tmp_path / 'shared-remote'}")
    return _s3(request)


@pytest.fixture
def shared_s3(request: pytest.FixtureRequest) -> SharedRemote:
    return _s3(request)


def laptop(shared: SharedRemote, root: Path):  # type: ignore[no-untyped-def]
    """A machine outside the cluster that uploads the inputs to the shared remote."""
    from prsgazer.storage import Store, remote_from_url

    return Store(root, remote=remote_from_url(shared.url, storage_options=shared.laptop_options), ttl=0)


def orchestrator_env(shared: SharedRemote, home: Path) -> dict[str, str]:
    """What the workflow's own pod gets: the task environment and secrets of the launch, its own disk."""
    from prsgazer.tasks.env import task_env, task_secrets

    launch = shared.launch_env()
    env = task_env(launch)
    env.update({s.as_env_var: shared.secrets[s.key] for s in task_secrets(launch)})  # type: ignore[misc]
    env.update({"PRSGAZER_HOME": str(home / "prsgazer"), "PRSGAZER_CACHE_DIR": str(home / "cache")})
    return env


def spec(work: Path, workflow: str, inputs: dict[str, Any], shared: SharedRemote, **more: Any) -> dict[str, Any]:
    return {"workflow": workflow, "inputs": inputs, "work": str(work), "log": str(work / "pods.jsonl"),
            "secrets": shared.secrets, **more}  # fmt: skip


def _differences(pod: Any, plain: Any, shared_store: Any) -> str:
    """Where a pod's stored output differs from the plain run's: the differing lines of their stored
    bytes, following the CIDs those lines name one level down (a report → its ancestry table)."""
    import difflib
    import re

    from prsgazer.storage import default_store

    def text(store: Any, cid: str) -> list[str]:
        return Path(store.fetch(cid).path).read_text(errors="replace").splitlines()

    out: list[str] = []
    for a, b in zip(cids(pod), cids(plain), strict=False):
        if a == b:
            continue
        diff = list(difflib.unified_diff(text(shared_store, a), text(default_store(), b), "pod", "plain",
                                         lineterm="", n=0))  # fmt: skip
        out += diff[:30]
        left = [c for line in diff if line.startswith("-") for c in re.findall(r"bafkrei[a-z2-7]+", line)]
        right = [c for line in diff if line.startswith("+") for c in re.findall(r"bafkrei[a-z2-7]+", line)]
        for x, y in zip(left, right, strict=False):
            out += list(difflib.unified_diff(text(shared_store, x), text(default_store(), y), x, y,
                                             lineterm="", n=0))[:12]  # fmt: skip
    return "\n".join(out)


def cids(obj: Any) -> list[str]:
    """Every asset CID in a run's outputs, in order (the outputs' identities, not their run metrics)."""
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "cid" and isinstance(v, str):
                found.append(v)
            elif k != "metrics":
                found += cids(v)
    elif isinstance(obj, list):
        for v in obj:
            found += cids(v)
    return found


async def test_workflows_run_as_isolated_pods_sharing_only_a_remote(
    shared: SharedRemote, synth_panel, person_vcf, cohort_files, tmp_path: Path
) -> None:
    from prsgazer.storage import default_store

    # the inputs, uploaded once from a laptop; the same files stored for a plain local run
    up = laptop(shared, tmp_path / "laptop")
    panel, _, _ = store_person(up, synth_panel, person_vcf)
    parts = store_cohort(up, cohort_files)
    local = default_store()
    assert store_person(local, synth_panel, person_vcf)[0].cid == panel.cid
    assert store_cohort(local, cohort_files) == parts
    runs = {
        "prs_report": {"sample_id": "P1", "pgs_ids": IDS, "panel": "synth"},
        "reference_distributions": {"panel": "synth", "pgs_ids": IDS, "batch_size": 2},
        "cohort_scores": {"pgs_ids": ["S1", "S2"], "genotypes_cids": parts},
    }
    work = tmp_path / "cluster"
    env = orchestrator_env(shared, tmp_path / "orchestrator")
    for name, inputs in runs.items():
        plain = (await runner.run(name, inputs)).outputs
        got = pods.run(spec(work, name, inputs, shared), env)
        assert "error" not in got, got
        assert cids(got["outputs"]) == cids(plain), (name, _differences(got["outputs"], plain, up))  # CID for CID
    log = pods.pod_log(spec(work, "", {}, shared))
    seconds = sorted((e["task"], e["seconds"]) for e in log)
    print(f"\n{shared.kind}: {len(log)} pods, {sum(e['seconds'] for e in log):.1f} pod-seconds: {seconds}")
    # every task ran as a pod, once, each attempt on its own empty disk
    assert all(e["ok"] and e["attempt"] == 1 for e in log), log
    assert len({e["home"] for e in log}) == len(log)
    tasks = {e["task"] for e in log}
    assert {"normalize_genotypes", "fetch_scoring_files", "score", "reference_pca", "project", "percentile",
            "adjust", "report", "reference_batch", "aggregate_distributions", "combine_scores"} <= tasks  # fmt: skip
    assert sum(e["task"] == "score" for e in log) == 1 + 3  # the person once; the cohort once per file
    assert sum(e["task"] == "reference_batch" for e in log) == 2
    assert sum(e["task"] == "fetch_scoring_files" for e in log) == 2  # one per workflow (the third: Flyte's cache)
    # every pod removed its run directories once their outputs were stored (and pushed)
    leftovers = [p for e in log for p in (Path(e["home"]).parent / "prsgazer-cache" / "runs").glob("*")]
    assert not leftovers, leftovers
    # the orchestrator's disk holds records it looked up, never a computed file's bytes
    orch_blobs = tmp_path / "orchestrator" / "prsgazer" / "blobs"
    assert not orch_blobs.exists() or len(list(orch_blobs.iterdir())) <= 3  # (panel .pvar/.psam looked up)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_killed_run_resumes_recomputing_only_what_is_missing(synth_panel, person_vcf, tmp_path: Path) -> None:
    """reference_distributions in 4 batches, one pod at a time; the node dies (orchestrator and pods
    SIGKILLed) once 2 batches are done. The relaunch keeps those 2 and computes the other 2; a third
    launch on a new cluster (empty Flyte cache, same remote) computes nothing: the store decides."""
    shared = SharedRemote("file", f"file://{tmp_path / 'shared-remote'}")
    up = laptop(shared, tmp_path / "laptop")
    store_person(up, synth_panel, person_vcf)
    inputs = {"panel": "synth", "pgs_ids": IDS, "batch_size": 1}
    work = tmp_path / "cluster"
    env = orchestrator_env(shared, tmp_path / "orchestrator")
    killed = pods.launch(spec(work, "reference_distributions", inputs, shared, max_pods=1,
                              kill_after=["reference_batch", 2]), env)  # fmt: skip
    killed.communicate(timeout=600)
    assert killed.returncode == -9  # SIGKILL: the run died mid-way
    up.sync(force=True)
    assert len(up.query(asset="reference_scores")) == 2 and not up.query(asset="distribution")

    first_log = len(pods.pod_log(spec(work, "", {}, shared)))
    resumed = pods.run(spec(work, "reference_distributions", inputs, shared, max_pods=1), env)
    out = resumed["outputs"]
    assert (out["n_ok"], out["n_cached"]) == (4, 2)  # 2 batches kept, 2 computed
    again = [e for e in pods.pod_log(spec(work, "", {}, shared))[first_log:] if e["task"] == "reference_batch"]
    # the batch Flyte recorded before the kill is a Flyte cache hit (no pod); the one finished as the node
    # died is a pod that finds its result in the store; the other two are computed
    assert len(again) == 3
    up.sync(force=True)
    stored = up.query(asset="reference_scores")
    assert len(stored) == 4 and sum(not s.metrics.get("cached") for s in stored) == 4  # none computed twice
    from prsgazer.storage import default_store

    store_person(default_store(), synth_panel, person_vcf)
    plain = (await runner.run("reference_distributions", inputs)).outputs
    assert cids(out) == [c for c in cids(plain)]

    fresh = pods.run(spec(tmp_path / "cluster2", "reference_distributions", inputs, shared), env)
    assert fresh["outputs"]["n_cached"] == 4 and cids(fresh["outputs"]) == cids(out)
    batches = [e for e in pods.pod_log(spec(tmp_path / "cluster2", "", {}, shared)) if e["task"] == "reference_batch"]
    assert len(batches) == 4  # no Flyte cache there: 4 pods, each a store look-up
    print(f"\nkill and resume: kept 2 batches, computed 2; resumed run {resumed['seconds']} s, "
          f"new cluster (store hits only) {fresh['seconds']} s")  # fmt: skip


async def test_retries_a_transient_storage_error_but_not_bad_input(shared_s3: SharedRemote, cohort_files,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    """Fault injection in the pods: the first attempt of `score` cannot reach the store (S3 on a closed
    port) and fails; Flyte retries it and the second attempt succeeds. Bad input — cohort files of other
    samples — fails `combine_scores` once, with no retry, and the run reports it as an input error."""
    from prsgazer.synthetic.files import Cohort, write_vcf

    from .conftest import cohort_parts

    shared = shared_s3
    up = laptop(shared, tmp_path / "laptop")
    parts = store_cohort(up, cohort_files)
    unreachable = {**shared.options, "endpoint_url": f"http://127.0.0.1:{_free_port()}",
                   "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}  # fmt: skip
    fault = {"PRSGAZER_REMOTE_OPTIONS": json.dumps(unreachable)}
    inputs = {"pgs_ids": ["S1", "NOT_STORED"], "genotypes_cid": parts[1], "min_overlap": 0.2}  # chr2 only
    work = tmp_path / "cluster"
    env = orchestrator_env(shared, tmp_path / "orchestrator")
    got = pods.run(spec(work, "cohort_scores", inputs, shared, faults={"score": {"attempts": 1, "env": fault}}), env)
    out = got["outputs"]
    log = pods.pod_log(spec(work, "", {}, shared))
    assert (out["n_ok"], out["n_failed"]) == (1, 1), (out["failures"], log)
    assert out["failures"][0]["pgs_id"] == "NOT_STORED" and "no stored scoring file" in out["failures"][0]["error"]
    scores = [e for e in log if e["task"] == "score"]
    assert [(e["attempt"], e["ok"]) for e in scores] == [(1, False), (2, True)]
    stderr = (Path(scores[0]["home"]).parent / "stderr.txt").read_text()
    assert "StorageError" in stderr
    from prsgazer.storage import default_store

    store_cohort(default_store(), cohort_files)
    plain = (await runner.run("cohort_scores", {**inputs, "pgs_ids": ["S1"]})).outputs
    assert cids(out["results"]) == cids(plain["results"])

    chroms, _ = cohort_parts()
    c1 = chroms[0]
    renamed = Cohort(sites=c1.sites, samples=[*c1.samples[:4], "X", *c1.samples[5:]], genotypes=c1.genotypes)
    other = up.put(write_vcf(renamed, tmp_path / "other.vcf.gz"), "vcf").cid
    bad = pods.run(spec(work, "cohort_scores", {"pgs_ids": ["S1"], "genotypes_cids": [other, *parts[1:]]}, shared),
                   env)  # fmt: skip
    assert bad.get("code") == "InputError" and "do not hold the same samples" in bad["error"], bad
    combines = [e for e in pods.pod_log(spec(work, "", {}, shared)) if e["task"] == "combine_scores"]
    assert [(e["attempt"], e["ok"]) for e in combines] == [(1, False)]  # retries=1, none used
