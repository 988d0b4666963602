"""The two ways to get a task image — the repository's Dockerfile (`PRSGAZER_IMAGE`) and the image Flyte
builds from tasks/env.py — install the same locked environment: the same Python, the same Debian
packages (plink2), exactly uv.lock without dev dependencies, the same local store paths. The Flyte side
is checked on the Dockerfile lines Flyte's own builder renders for it."""

from __future__ import annotations

import asyncio
import re
import tomllib
from pathlib import Path

from prsgazer.tasks.env import APT_PACKAGES, POD_ENV, PYTHON_VERSION, UV_SYNC_ARGS, task_image

REPO = Path(__file__).resolve().parents[2]


def _dockerfile() -> dict[str, object]:
    text = (REPO / "Dockerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()  # join continued lines
    run = [ln for ln in lines if ln.startswith("RUN ")]
    (base,) = [ln.split()[1] for ln in lines if ln.startswith("FROM ")]
    apt = [ln for ln in run if "apt-get install" in ln]
    assert len(apt) == 1, apt
    packages = [w for w in apt[0].split("apt-get install", 1)[1].split("&&")[0].split() if not w.startswith("-")]
    env = dict(re.findall(r"(PRSGAZER_\w+)=(\S+)", " ".join(ln for ln in lines if ln.startswith("ENV "))))
    copies = " ".join(ln for ln in lines if ln.startswith("COPY "))
    return {"base": base, "packages": packages, "uv": [ln for ln in run if "uv sync" in ln], "env": env,
            "copies": copies}  # fmt: skip


def test_dockerfile_and_flyte_image_install_the_same_locked_environment(tmp_path: Path) -> None:
    from flyte._image import AptPackages, UVProject
    from flyte._internal.imagebuild.docker_builder import AptPackagesHandler, UVProjectHandler

    docker = _dockerfile()
    image = task_image({})
    assert not isinstance(image, str)
    # Python
    version = ".".join(map(str, PYTHON_VERSION))
    assert str(docker["base"]).startswith(f"python:{version}-")
    assert image.python_version == PYTHON_VERSION and f"py{version}" in str(image.base_image)
    spec = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert spec == f">={version}"  # the lock is resolved for the images' Python
    # Debian packages (plink2), as Flyte's builder installs them
    apt = next(x for x in image._layers if isinstance(x, AptPackages))
    flyte_apt = asyncio.run(AptPackagesHandler.handle(apt, tmp_path, ""))
    flyte_packages = flyte_apt.split("--no-install-recommends")[1].split()
    assert sorted(docker["packages"]) == sorted(APT_PACKAGES) == sorted(flyte_packages)  # type: ignore[arg-type]
    # exactly uv.lock, no dev dependencies
    uv = next(x for x in image._layers if isinstance(x, UVProject))
    assert uv.pyproject == REPO / "pyproject.toml" and uv.uvlock == REPO / "uv.lock"
    flyte_uv = asyncio.run(UVProjectHandler.handle(uv, tmp_path, ""))
    assert re.search(r"uv sync .*--locked --no-dev", flyte_uv) and "uv.lock" in flyte_uv
    assert docker["uv"] and all(f"uv sync {UV_SYNC_ARGS}" in ln for ln in docker["uv"])  # type: ignore[union-attr]
    assert "uv.lock" in str(docker["copies"])
    # the pod's local store on its own disk
    assert docker["env"] == POD_ENV


def test_a_prebuilt_image_is_used_as_given() -> None:
    assert task_image({"PRSGAZER_IMAGE": "ghcr.io/lab/prsgazer:1.2"}) == "ghcr.io/lab/prsgazer:1.2"
