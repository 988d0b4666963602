"""Shared fixtures: an isolated store and cache per test, the ../shared/data files, the plink2 oracle."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
os.environ.setdefault("MARIMO_SKIP_UPDATE_CHECK", "1")

# Flyte's local run database under the (per-test) PRSGAZER_CACHE_DIR, never beside .flyte/config.yaml
from prsgazer.runner import pin_flyte_local_cache  # noqa: E402

pin_flyte_local_cache()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PRSGAZER_HOME and cache dir; nothing touches the user's real store."""
    base = tmp_path_factory.mktemp("prsgazer")
    monkeypatch.setenv("PRSGAZER_HOME", str(base / "home"))
    monkeypatch.setenv("PRSGAZER_CACHE_DIR", str(base / "cache"))
    from prsgazer import storage
    from prsgazer.config import reset_settings

    reset_settings()
    storage._stores.clear()
    yield base
    reset_settings()
    storage._stores.clear()


def missing(reason: str) -> None:
    """Skip a test whose ground truth is absent, with the reason; under CI (CI=true) fail instead: a
    green CI run must mean the numbers were checked."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} — required under CI", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repo; tests that need it skip with a clear reason when it is absent
    (and fail under CI)."""
    if not SHARED_DATA.is_dir():
        missing(f"shared test data not found at {SHARED_DATA} (clone ../shared beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fake_catalog_server(shared_data: Path) -> Iterator[Any]:
    """One fake PGS Catalog on 127.0.0.1 for the session (REST API, file server, bulk metadata): the catalog
    and server tests both use it, each resetting its faults and request log per test."""
    from catalog.catalog_fake import FakeCatalog  # tests/ is on sys.path (rootdir-relative packages)

    fake = FakeCatalog(shared_data).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def plink2() -> str:
    """Path of the plink2 binary (the live oracle); skip when it is not installed."""
    exe = shutil.which("plink2")
    if exe is None:
        missing("plink2 not installed (apt-get install -y plink2; CI installs it)")
    assert exe is not None
    return exe


@pytest.fixture
def store(tmp_path: Path):
    from prsgazer.storage import LocalStore

    return LocalStore(tmp_path / "store")


@pytest.fixture(scope="session")
def synth_panel(tmp_path_factory: pytest.TempPathFactory):
    """A small simulated reference panel (5 superpopulations, GRCh38) with 4 holdout people, and
    scoring files over its variants (strand-ambiguous sites left out, so every row can match)."""
    import polars as pl

    from prsgazer.synthetic.simulate import read_simulated_pvar, synthesize_panel, write_scorefile

    d = tmp_path_factory.mktemp("synth_panel")
    info = synthesize_panel(d / "panel", 400, 3000, seed=5, genome_build="GRCh38", n_holdout=4)
    pvar = read_simulated_pvar(info.prefix)
    plain = pvar.filter(~pl.concat_str("REF", "ALT").is_in(["AT", "TA", "CG", "GC"]))
    sizes = {"PGS900001": 10, "PGS900002": 150, "PGS900003": 900, "PGS900004": 2000}
    files = [
        write_scorefile(plain, d / f"{k}.txt", pgs_id=k, n_variants=n, seed=i, genome_build="GRCh38")
        for i, (k, n) in enumerate(sizes.items())
    ]
    return info, files


@pytest.fixture(scope="session")
def person_vcf(synth_panel, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One held-out person of `synth_panel` as a variant-only WGS VCF (sample P1) and their superpopulation."""
    import polars as pl

    from prsgazer.synthetic.simulate import write_person_vcf

    info, _ = synth_panel
    hold = pl.read_csv(f"{info.holdout_prefix}.psam", separator="\t")
    out = tmp_path_factory.mktemp("person") / "P1.vcf.gz"
    write_person_vcf(info.holdout_prefix, out, sample_index=1, sample_id="P1", genome_build="GRCh38")
    return out, hold["SuperPop"][1]


@pytest.fixture(scope="session")
def engine_report():
    """The engine called directly, with the options the tasks use: a person's scores (REF at absent
    sites from the panel) and their percentiles per superpopulation and ALL on the same variants."""

    def run(vcf: Path, panel_prefix: Path, scorefiles: list[Path]):  # type: ignore[no-untyped-def]
        from prsgazer.engine.reference.percentile import panel_percentiles
        from prsgazer.engine.scoring.run import run_scoring
        from prsgazer.ops.params import ScoreParams, Tuning, run_options

        options = run_options(
            ScoreParams(), Tuning.from_settings(), build="GRCh38", coverage="wgs", reference=f"{panel_prefix}.pgen"
        )
        scored = run_scoring(vcf, scorefiles, options)
        pct, _, _ = panel_percentiles(vcf, scorefiles, scored, options, panel_prefix, every_group=True)
        return scored, pct

    return run


# -- a real S3 server (moto) on 127.0.0.1, for the storage remotes and the pod simulation ---------------
S3_KEY = "testing-key"
S3_SECRET = "testing-secret"
S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server in a thread on 127.0.0.1 (started once per session: it takes ~2 s)."""
    pytest.importorskip("moto", reason="moto[server] is a dev dependency (uv sync installs it)")
    from moto.server import ThreadedMotoServer

    # werkzeug logs one line per request at INFO; keep the test output readable.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_options(moto_endpoint: str) -> dict[str, Any]:
    """fsspec/s3fs storage options pointing at the moto server."""
    return {
        "key": S3_KEY,
        "secret": S3_SECRET,
        "endpoint_url": moto_endpoint,
        "client_kwargs": {"region_name": S3_REGION},
    }


@pytest.fixture
def s3_bucket(moto_endpoint: str, s3_options: dict[str, Any]) -> str:
    """A fresh, empty bucket on the moto server."""
    import boto3  # comes with moto; s3fs's mkdir sends a LocationConstraint us-east-1 refuses

    name = f"prs-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name=S3_REGION,
    )
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()
    return name
