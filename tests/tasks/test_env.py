"""What reaches every task on a cluster (tasks/env.py): forwarded settings, credentials as Flyte secrets,
Flyte's task cache with a version from the code and the store, the image — read from the launching
environment when the module is imported, and nothing else done then; checked on the task specs Flyte
itself serializes for a cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prsgazer.config import Settings, reset_settings
from prsgazer.errors import InputError
from prsgazer.tasks.env import (
    FORWARDED_SETTINGS,
    LOCAL_SETTINGS,
    POD_ENV,
    SECRET_SETTINGS,
    StoreCodeVersion,
    task_env,
    task_secrets,
)

DEPLOYER = {
    "PRSGAZER_REMOTE": "s3://lab-bucket/prsgazer",
    "PRSGAZER_REMOTE_OPTIONS": '{"endpoint_url": "https://minio.lab:9000"}',
    "PRSGAZER_REMOTE_PUSH": "false",
    "PRSGAZER_REMOTE_TTL": "5",
    "HF_ENDPOINT": "https://hub.lab",  # the alias the store also reads
    "PRSGAZER_MEMORY_LIMIT": "3GB",
    "AWS_DEFAULT_REGION": "eu-west-1",
    # never forwarded: this machine's paths and credentials
    "PRSGAZER_HOME": "/home/me/prsgazer",
    "PRSGAZER_CACHE_DIR": "/home/me/.cache/prsgazer",
    "PRSGAZER_HF_TOKEN": "hf_secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "PRSGAZER_MCP_TOKEN": "mcp-secret",
}


def test_the_deployers_settings_reach_every_task_and_nothing_local_or_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    env = task_env(DEPLOYER)
    assert env["PRSGAZER_REMOTE"] == "s3://lab-bucket/prsgazer"
    assert json.loads(env["PRSGAZER_REMOTE_OPTIONS"]) == {"endpoint_url": "https://minio.lab:9000"}
    assert (env["PRSGAZER_REMOTE_PUSH"], env["PRSGAZER_REMOTE_TTL"]) == ("false", "5")
    assert env["PRSGAZER_HF_ENDPOINT"] == "https://hub.lab" and env["PRSGAZER_MEMORY_LIMIT"] == "3GB"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1" and env["DO_NOT_TRACK"] == "1"
    # a pod's own disk, never the launching machine's paths; no secret as a plain variable
    assert {k: env[k] for k in POD_ENV} == POD_ENV
    assert not {"PRSGAZER_HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "PRSGAZER_MCP_TOKEN", "HF_TOKEN"} & set(env)
    # a pod with exactly these variables reads the deployer's store settings
    from prsgazer.config import get_settings

    for k in [k for k in os.environ if k.startswith(("PRSGAZER_", "HF_"))]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reset_settings()
    pod = get_settings()
    assert (pod.remote, pod.remote_push, pod.remote_ttl) == ("s3://lab-bucket/prsgazer", False, 5.0)
    assert pod.remote_options == {"endpoint_url": "https://minio.lab:9000"} and pod.hf_endpoint == "https://hub.lab"
    assert str(pod.home) == "/tmp/prsgazer"


def test_every_setting_is_forwarded_local_or_a_secret() -> None:
    groups = [set(FORWARDED_SETTINGS), set(LOCAL_SETTINGS), set(SECRET_SETTINGS)]
    assert set().union(*groups) == set(Settings.model_fields)  # a new setting needs a decision here
    assert sum(len(g) for g in groups) == len(Settings.model_fields)  # and exactly one


def test_credentials_are_flyte_secrets_mapped_to_what_the_store_reads() -> None:
    s3 = {(s.key, s.as_env_var) for s in task_secrets({"PRSGAZER_REMOTE": "s3://b/p"})}
    assert s3 == {("prsgazer-aws-access-key-id", "AWS_ACCESS_KEY_ID"),
                  ("prsgazer-aws-secret-access-key", "AWS_SECRET_ACCESS_KEY")}  # fmt: skip
    hf = task_secrets({"PRSGAZER_REMOTE": "hf://datasets/lab/store"})
    assert [(s.key, s.as_env_var) for s in hf] == [("prsgazer-hf-token", "PRSGAZER_HF_TOKEN")]
    assert task_secrets({"PRSGAZER_REMOTE": "file:///mnt/shared"}) == [] and task_secrets({}) == []
    pairs = "AWS_ACCESS_KEY_ID=k1, AWS_SECRET_ACCESS_KEY=k2"
    named = task_secrets({"PRSGAZER_REMOTE": "s3://b/p", "PRSGAZER_CLUSTER_SECRETS": pairs})
    assert [(s.key, s.as_env_var) for s in named] == [("k1", "AWS_ACCESS_KEY_ID"), ("k2", "AWS_SECRET_ACCESS_KEY")]
    assert task_secrets({"PRSGAZER_REMOTE": "s3://b/p", "PRSGAZER_CLUSTER_SECRETS": "none"}) == []  # IRSA
    with pytest.raises(InputError, match=r"PRSGAZER_CLUSTER_SECRETS='aws-key'.*ENV_VAR=secret-key"):
        task_secrets({"PRSGAZER_CLUSTER_SECRETS": "aws-key"})


def test_a_bad_cluster_secrets_setting_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from prsgazer.config import get_settings

    monkeypatch.setenv("PRSGAZER_CLUSTER_SECRETS", "lower=key")
    reset_settings()
    with pytest.raises(InputError, match="PRSGAZER_CLUSTER_SECRETS"):
        get_settings()


def test_the_cache_version_follows_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    policy = StoreCodeVersion()
    here = policy.get_version("", None)
    assert here == policy.get_version("", None) and len(here) == 64
    monkeypatch.setenv("PRSGAZER_REMOTE", f"file://{tmp_path}/shared")
    reset_settings()
    shared = policy.get_version("", None)
    monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / "another-machine"))
    reset_settings()
    assert policy.get_version("", None) == shared != here  # one remote, one cache: any machine on it
    monkeypatch.setenv("PRSGAZER_REMOTE", f"file://{tmp_path}/other")
    reset_settings()
    assert policy.get_version("", None) != shared


_SERIALIZE = """
import json, os
from pathlib import Path
from flyte._internal.runtime.task_serde import translate_task_to_wire
from flyte.models import SerializationContext
from prsgazer import registry
from prsgazer.config import get_settings
settings_read_at_import = get_settings.cache_info().currsize
from flyte._cache.cache import VersionParameters
from prsgazer.tasks.env import TASK_CACHE
ctx = SerializationContext(version="v1", root_dir=Path(os.environ["SRC"]), project="p", domain="d", org="o")
out = {"settings_read_at_import": settings_read_at_import, "home_made": Path(os.environ["PRSGAZER_HOME"]).exists(),
       "version": TASK_CACHE.get_version(VersionParameters(func=None)), "tasks": {}}
for name, e in registry.entries().items():
    t = translate_task_to_wire(e.task, ctx).task_template
    out["tasks"][name] = {"kind": e.kind, "env": {kv.key: kv.value for kv in t.container.env},
                          "secrets": sorted((s.key, s.env_var) for s in t.security_context.secrets),
                          "cached": t.metadata.discoverable, "version": t.metadata.discovery_version,
                          "image": t.container.image, "args": list(t.container.args)}
print(json.dumps(out))
"""


def test_flyte_serializes_every_task_with_its_settings_secrets_cache_and_image(tmp_path: Path) -> None:
    """In a fresh process configured as a deployer would, importing the tasks reads the environment and
    does nothing else (no settings cached, no store created); Flyte's own serializer then gives every
    task spec the forwarded settings, the secrets, the cache (tasks, not workflows) and an image."""
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PRSGAZER_", "AWS_", "HF_"))},
           **DEPLOYER, "PRSGAZER_HOME": str(tmp_path / "never-created"), "SRC": str(src)}  # fmt: skip
    code = "import prsgazer.workflows, prsgazer.tasks\n" + _SERIALIZE
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["settings_read_at_import"] == 0 and got["home_made"] is False
    tasks = got["tasks"]
    assert {"score", "combine_scores", "fetch_scoring_file", "prs_report", "cohort_scores"} <= set(tasks)
    for name, t in tasks.items():
        assert t["env"]["PRSGAZER_REMOTE"] == DEPLOYER["PRSGAZER_REMOTE"], name
        assert t["env"]["PRSGAZER_REMOTE_OPTIONS"] == DEPLOYER["PRSGAZER_REMOTE_OPTIONS"]
        assert t["env"]["PRSGAZER_HOME"] == POD_ENV["PRSGAZER_HOME"] and "PRSGAZER_HF_TOKEN" not in t["env"]
        assert t["secrets"] == [["prsgazer-aws-access-key-id", "AWS_ACCESS_KEY_ID"],
                                ["prsgazer-aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"]]  # fmt: skip
        assert t["cached"] is (t["kind"] == "task"), name  # workflows decide afresh on every run
        if t["kind"] == "task":
            assert t["version"] == got["version"]
        assert t["image"] and "a0" in t["args"] and "--resolver" in t["args"]
