"""A Flyte cluster without a cluster: every task of a run executed as a pod would execute it.

The workflow (the orchestrator) runs in a process of its own, started by `launch` with its own empty
`PRSGAZER_HOME` and the environment a cluster gives the workflow task. Each task it calls is dispatched
(`pod_dispatch`, in place of Flyte's in-process local dispatch) the way Flyte's backend runs a task:

- the task is serialized with Flyte's own serializer (`translate_task_to_wire`), exactly as
  `flyte deploy` / `flyte run` send it to a cluster;
- the pod's environment is built from that spec alone — the container's env vars and its declared
  secrets (resolved from a secret store given to the simulation; a missing secret fails the pod as
  Kubernetes would) — plus Flyte's runtime variables; nothing is inherited from the orchestrator;
- the pod's disk is its own: a fresh, empty `PRSGAZER_HOME` and cache dir per attempt (the paths in
  the spec's env are the pod's own `/tmp`, here a new directory each time), and a fresh working dir;
- the container command is Flyte's pod entrypoint, `a0 --inputs … --outputs-path … --resolver …`,
  with the backend's template variables filled in; inputs and outputs travel as Flyte's protobuf
  files (Flyte's metadata store, here a directory standing in for its bucket).

So the only thing pods share is the prsgazer remote (`PRSGAZER_REMOTE`) — and Flyte's own metadata.
A pod runs with `FLYTE_CLUSTERED_WORKER=1`, which makes `a0` start no controller: leaf tasks never
launch sub-tasks, and there is no control plane to talk to.

Faults and limits a cluster has: `max_pods` (pods running at once), `faults` (per task name, the
first N attempts get extra env vars, e.g. an unreachable S3 endpoint), `kill_after` ([task, n]: the
whole run — orchestrator and pods — is SIGKILLed once n pods of that task have succeeded). Every pod
attempt is logged as a JSON line (task, action, attempt, exit code, seconds).

Run as `python pods.py SPEC.json` (what `launch` does).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[2] / "src"
ORCHESTRATOR_ENV = "prsgazer-workflows"
_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def pod_environment(
    spec_env: dict[str, str], secrets: list[tuple[str, str]], store: dict[str, str], pod_dir: Path
) -> dict[str, str]:
    """A pod's environment: the base a container has, the task spec's env vars and secrets, its own disk."""
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env.update(spec_env)
    for key, as_env in secrets:
        if key not in store:
            raise RuntimeError(f"secret {key!r} not found in the cluster's secret store (pod cannot start)")
        env[as_env] = store[key]
    # the pod's /tmp (where POD_ENV puts its store) and home are its own
    env.update(
        {
            "HOME": str(pod_dir),
            "TMPDIR": str(pod_dir / "tmp"),
            "PRSGAZER_HOME": str(pod_dir / "prsgazer"),
            "PRSGAZER_CACHE_DIR": str(pod_dir / "prsgazer-cache"),
        }
    )
    (pod_dir / "tmp").mkdir(parents=True, exist_ok=True)
    return env


class Cluster:
    """The pod side of a simulated cluster: dispatches task actions to `a0` processes."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.work = Path(spec["work"])
        self.secrets: dict[str, str] = spec.get("secrets", {})
        self.faults: dict[str, dict[str, Any]] = spec.get("faults", {})
        self.kill_after: list[Any] | None = spec.get("kill_after")
        self.log = Path(spec["log"])
        self.slots = asyncio.Semaphore(int(spec.get("max_pods", 8)))
        self.attempts: Counter[str] = Counter()
        self.succeeded: Counter[str] = Counter()

    async def dispatch(
        self, task: Any, *, action: Any, output_path: str, version: str, inputs: Any = None, **_: Any
    ) -> tuple[Any, Any]:
        from flyte._internal.runtime import convert, io
        from flyte._internal.runtime.task_serde import translate_task_to_wire
        from flyte.models import SerializationContext
        from flyteidl2.core import execution_pb2

        name = task.name.rsplit(".", 1)[-1]
        self.attempts[action.name] += 1
        attempt = self.attempts[action.name]
        pod_dir = self.work / "pods" / f"{name}-{action.name[:10]}-{attempt}"
        pod_dir.mkdir(parents=True)
        inputs_uri = str(pod_dir / "inputs.pb")
        await io.upload_inputs(inputs or convert.Inputs.empty(), inputs_uri)
        ctx = SerializationContext(
            version=version or "local",
            input_path=inputs_uri,
            output_path=output_path,
            root_dir=SRC,
            project="prsgazer",
            domain="development",
            org="sim",
        )
        template = translate_task_to_wire(task, ctx).task_template
        fill = {
            "{{.rawOutputDataPrefix}}": str(pod_dir / "raw"),
            "{{.checkpointOutputPrefix}}": str(pod_dir / "ckpt"),
            "{{.prevCheckpointPrefix}}": "",
            "{{.runName}}": action.run_name or "run",
            "{{.actionName}}": action.name,
            "{{.runStartTime}}": "",
        }
        args = [fill.get(a, a) for a in template.container.args]
        env = pod_environment(
            {kv.key: kv.value for kv in template.container.env},
            [(s.key, s.env_var) for s in template.security_context.secrets],
            self.secrets,
            pod_dir,
        )
        env.update(
            {
                "FLYTE_INTERNAL_EXECUTION_PROJECT": "prsgazer",
                "FLYTE_INTERNAL_EXECUTION_DOMAIN": "development",
                "_U_ORG_NAME": "sim",
                "_U_RUN_BASE": str(self.work / "flyte"),
                "FLYTE_CLUSTERED_WORKER": "1",
            }
        )
        fault = self.faults.get(name, {})
        if attempt <= int(fault.get("attempts", 0)):
            env.update(fault.get("env", {}))
        exe = str(Path(sys.executable).parent / args[0])
        async with self.slots:
            t0 = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                exe, *args[1:], env=env, cwd=pod_dir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            _, err = await proc.communicate()
            seconds = time.perf_counter() - t0
        (pod_dir / "stderr.txt").write_bytes(err)
        error_uri = Path(io.error_path(output_path))
        ok = proc.returncode == 0 and not error_uri.exists()
        with self.log.open("a") as fh:
            fh.write(
                json.dumps(
                    {
                        "task": name,
                        "action": action.name,
                        "attempt": attempt,
                        "rc": proc.returncode,
                        "ok": ok,
                        "seconds": round(seconds, 2),
                        "home": env["PRSGAZER_HOME"],
                    }
                )
                + "\n"
            )
        if error_uri.exists():
            doc = execution_pb2.ErrorDocument()
            doc.ParseFromString(error_uri.read_bytes())
            error_uri.unlink()  # the next attempt writes its own
            e = execution_pb2.ExecutionError(code=doc.error.code, message=doc.error.message, kind=doc.error.origin)
            return None, convert.Error(
                err=e, recoverable=doc.error.kind != execution_pb2.ContainerError.NON_RECOVERABLE
            )
        if proc.returncode != 0:
            e = execution_pb2.ExecutionError(
                code="PodFailed", message=err.decode()[-2000:], kind=execution_pb2.ExecutionError.SYSTEM
            )
            return None, convert.Error(err=e, recoverable=True)
        self.succeeded[name] += 1
        if self.kill_after and name == self.kill_after[0] and self.succeeded[name] >= int(self.kill_after[1]):
            os.killpg(os.getpgid(0), signal.SIGKILL)  # the node dies: orchestrator and every running pod
        return await io.load_outputs(io.outputs_path(output_path)), None


def install(cluster: Cluster) -> None:
    """Route every task that is not a workflow through `cluster` (workflows run in this process)."""
    import flyte._internal.controllers._local_controller as local

    in_process = local.direct_dispatch

    async def dispatch(task: Any, **kw: Any) -> Any:
        if task.parent_env_name == ORCHESTRATOR_ENV:
            return await in_process(task, **kw)
        return await cluster.dispatch(task, **kw)

    local.direct_dispatch = dispatch


async def _orchestrate(spec: dict[str, Any]) -> dict[str, Any]:
    import flyte

    from prsgazer import registry, runner

    install(Cluster(spec))
    entry = registry.get(spec["workflow"])
    kwargs = registry.bind(entry, spec["inputs"])
    await flyte.init.aio(root_dir=SRC)
    work = Path(spec["work"])
    t0 = time.perf_counter()
    # Flyte's metadata (inputs.pb / outputs.pb) goes to its local default, /tmp/flyte/metadata/<run>
    r = await flyte.with_runcontext(mode="local", raw_data_path=str(work / "flyte" / "raw")).run.aio(
        entry.task, **kwargs
    )
    outputs = runner.to_jsonable(runner._unwrap(r.outputs()))
    return {"outputs": outputs, "seconds": round(time.perf_counter() - t0, 2), "run": str(getattr(r, "name", ""))}


def launch(spec: dict[str, Any], env: dict[str, str], timeout: float = 600) -> subprocess.Popen[bytes]:
    """Start the orchestrator of one run in its own process group (so a kill takes every pod with it)."""
    work = Path(spec["work"])
    work.mkdir(parents=True, exist_ok=True)
    (work / "flyte").mkdir(exist_ok=True)
    # Flyte's local cache of this simulated cluster lives beside its config (never the repo's)
    (work / "flyte" / "config.yaml").write_text("task:\n  project: prsgazer\n  domain: development\n")
    spec_path = work / f"spec-{time.time_ns()}.json"
    spec_path.write_text(json.dumps(spec))
    base = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    full = {**base, **env, "FLYTECTL_CONFIG": str(work / "flyte" / "config.yaml"), "DO_NOT_TRACK": "1"}
    return subprocess.Popen(
        [sys.executable, __file__, str(spec_path)],
        env=full,
        cwd=work,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run(spec: dict[str, Any], env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    """Launch one run and wait for its outputs (an orchestrator failure raises with its stderr)."""
    proc = launch(spec, env)
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"orchestrator exited {proc.returncode}:\n{err.decode()[-4000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


def pod_log(spec: dict[str, Any]) -> list[dict[str, Any]]:
    p = Path(spec["log"])
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        result = asyncio.run(_orchestrate(spec))
    except Exception as exc:  # noqa: BLE001 - reported to the launching test as a JSON line
        result = {"error": f"{type(exc).__name__}: {exc}", "code": str(getattr(exc, "code", "") or "")}
    print(json.dumps(result))
