"""Flyte task environments and the task image. See docs/workflows.md and docs/cluster.md.

Two environments: `light` (catalog look-ups, reports) and `compute` (normalising, scoring, batch
reference scoring). Local runs ignore images and resources; on a cluster the image is either a
prebuilt one (`PRSGAZER_IMAGE`, e.g. built from the repo's Dockerfile) or built by Flyte from this
repository's `pyproject.toml` + `uv.lock` on top of Flyte's Debian base, with plink2 from apt. Task
code travels in Flyte's code bundle, so the image holds dependencies only.
"""

from __future__ import annotations

from pathlib import Path

import flyte

_REPO = Path(__file__).resolve().parents[3]

#: Environment variables every task process gets (no telemetry, no update checks).
TASK_ENV_VARS = {"DO_NOT_TRACK": "1", "FASTMCP_CHECK_FOR_UPDATES": "off", "MARIMO_SKIP_UPDATE_CHECK": "1"}


def task_image() -> flyte.Image | str:
    """The image tasks run in on a cluster (unused by local runs)."""
    from prsgazer.config import get_settings

    prebuilt = get_settings().image
    if prebuilt:
        return prebuilt
    image = flyte.Image.from_debian_base(python_version=(3, 11), name="prsgazer").with_apt_packages("plink2")
    pyproject = _REPO / "pyproject.toml"
    if pyproject.exists():
        image = image.with_uv_project(pyproject, project_install_mode="dependencies_only")
    else:  # installed from a wheel: install the same distribution in the image
        from prsgazer import __version__

        image = image.with_pip_packages(f"prsgazer=={__version__}")
    return image


_IMAGE = task_image()

light = flyte.TaskEnvironment(
    name="prsgazer-light",
    image=_IMAGE,
    resources=flyte.Resources(cpu=1, memory="1Gi"),
    env_vars=TASK_ENV_VARS,
)
compute = flyte.TaskEnvironment(
    name="prsgazer-compute",
    image=_IMAGE,
    resources=flyte.Resources(cpu=2, memory="6Gi"),
    env_vars=TASK_ENV_VARS,
    depends_on=[light],
)

#: Workflows are tasks that call tasks; they only orchestrate, so they need little.
orchestrator = flyte.TaskEnvironment(
    name="prsgazer-workflows",
    image=_IMAGE,
    resources=flyte.Resources(cpu=1, memory="1Gi"),
    env_vars=TASK_ENV_VARS,
    depends_on=[light, compute],
)
