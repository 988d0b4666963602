"""Bulk metadata: cleaning (pure), pull/refresh from the fake catalog, offline load, HF mirror round trip."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from prsgazer.assets import CatalogMetadata
from prsgazer.catalog import (
    load_metadata,
    metadata_status,
    publish_metadata,
    pull_metadata,
    pull_metadata_from_hf,
    refresh_metadata,
)
from prsgazer.catalog.clean import (
    best_performance,
    clean_sheet,
    parse_metric,
    rename_columns,
    snake_case,
)
from prsgazer.config import reset_settings
from prsgazer.errors import CatalogError, DownloadError, InputError, NotFoundError
from prsgazer.storage import LocalStore, default_store

from .catalog_fake import FakeCatalog

pytestmark = pytest.mark.anyio


def raw(text: str) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(text), infer_schema=False)


# -- pure cleaning ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.55 [1.52,1.58]", (1.55, 1.52, 1.58, None)),
        ("1.55 [1.52, 1.58]", (1.55, 1.52, 1.58, None)),
        ("-0.7 (0.15)", (-0.7, None, None, 0.15)),
        ("-0.7 [-0.9,-0.5]", (-0.7, -0.9, -0.5, None)),
        ("0.622", (0.622, None, None, None)),
        ("1.2e-05 (3e-06)", (1.2e-05, None, None, 3e-06)),
        ("0.71 [0.70-0.72]", (0.71, 0.70, 0.72, None)),
        ("NR", (None, None, None, None)),
        ("", (None, None, None, None)),
        ("about 1.5", (None, None, None, None)),
    ],
)
def test_parse_metric(text: str, expected: tuple) -> None:
    m = parse_metric(text)
    assert (m.estimate, m.ci_lower, m.ci_upper, m.se) == expected


def test_metric_columns_match_parse_metric() -> None:
    texts = ["1.55 [1.52,1.58]", "-0.7 (0.15)", "0.622", "NR", None, "junk"]
    df = clean_sheet(
        "performance_metrics",
        pl.DataFrame(
            {
                "PGS Performance Metric (PPM) ID": [f"PPM{i:06d}" for i in range(len(texts))],
                "Evaluated Score": ["PGS000001"] * len(texts),
                "PGS Sample Set (PSS)": ["PSS000001"] * len(texts),
                "Odds Ratio (OR)": texts,
            }
        ),
    )
    for t, row in zip(texts, df.iter_rows(named=True), strict=True):
        m = parse_metric(t)
        assert (row["or_estimate"], row["or_ci_lower"], row["or_ci_upper"], row["or_se"]) == (
            m.estimate,
            m.ci_lower,
            m.ci_upper,
            m.se,
        )
    assert df["hr_estimate"].null_count() == len(texts)  # absent metric columns exist, all null


def test_snake_case_and_renaming() -> None:
    assert snake_case("Ancestry Distribution (%) - PGS Evaluation") == "ancestry_distribution_pct_pgs_evaluation"
    assert snake_case("Beta (β)") == "beta_beta"
    df = rename_columns(
        "performance_metrics",
        raw("Corcordance Statistic (C-index),Concordance Statistic (C-index),A New Column!,Evaluated Score\n1,2,3,4\n"),
    )
    assert df.columns == ["c_index", "c_index_2", "a_new_column", "pgs_id"]
    assert rename_columns("scores", raw("\ufeffPolygenic Score (PGS) ID\nPGS1\n")).columns == ["pgs_id"]


def test_scores_sheet_cleaning() -> None:
    text = (
        "Polygenic Score (PGS) ID,Reported Trait,Mapped Trait(s) (EFO label),Mapped Trait(s) (EFO ID),"
        "Original Genome Build,Number of Variants,Publication (PMID),"
        "Ancestry Distribution (%) - PGS Evaluation,Release Date,"
        "Score and results match the original publication\n"
        'PGS1,Breast cancer,"breast carcinoma, familial|cancer",EFO:0000305|MONDO_0004989,hg19,77,25855707.0,'
        "European:80|NR:20,2019-10-14,True\n"
        'PGS2,Height,body height,EFO_0004339,NR,"1,296",,,2020-01-01,False\n'
        "PGS3,Other,x,EFO_1,GRCh38,10,,,,\n"
        "PGS4,Odd,y,EFO_2,hg42,5,,,,\n"
    )
    df = clean_sheet("scores", raw(text))
    rows = {r["pgs_id"]: r for r in df.iter_rows(named=True)}
    r1 = rows["PGS1"]
    assert r1["genome_build"] == "GRCh37" and r1["genome_build_reported"] == "hg19"
    assert r1["trait_efo_labels"] == ["breast carcinoma, familial", "cancer"]
    assert r1["trait_efo_ids"] == ["EFO_0000305", "MONDO_0004989"]
    assert r1["pmid"] == 25855707 and r1["n_variants"] == 77
    assert r1["ancestry_eval"] == [
        {"ancestry": "European", "percent": 80.0},
        {"ancestry": "NR", "percent": 20.0},
    ]
    assert r1["matches_publication"] is True and str(r1["release_date"]) == "2019-10-14"
    assert r1["builds_available"] == ["GRCh37", "GRCh38"]
    assert rows["PGS2"]["genome_build"] is None and rows["PGS2"]["genome_build_reported"] is None
    assert rows["PGS2"]["n_variants"] == 1296 and rows["PGS2"]["ancestry_eval"] is None
    assert rows["PGS3"]["genome_build"] == "GRCh38"
    assert rows["PGS4"]["genome_build"] is None and rows["PGS4"]["genome_build_reported"] == "hg42"


def test_harmonized_build_column_is_used_when_present() -> None:
    text = (
        "Polygenic Score (PGS) ID,Reported Trait,Number of Variants,Original Genome Build,"
        "Harmonized Genome Build\n"
        "PGS1,x,1,GRCh37,GRCh38\nPGS2,y,2,NR,\n"
    )
    df = clean_sheet("scores", raw(text)).sort("pgs_id")
    assert df["builds_available"].to_list() == [["GRCh37", "GRCh38"], []]


def test_missing_required_columns_are_named() -> None:
    with pytest.raises(InputError, match=r"lacks column.*n_variants"):
        clean_sheet("scores", raw("Polygenic Score (PGS) ID,Reported Trait\nPGS1,x\n"), source="scores.csv")
    with pytest.raises(InputError, match="unknown metadata sheet"):
        clean_sheet("nope", raw("a\n1\n"))


def _perf(rows: list[dict[str, Any]]) -> pl.DataFrame:
    cols = [
        "PGS Performance Metric (PPM) ID",
        "Evaluated Score",
        "PGS Sample Set (PSS)",
        "Area Under the Receiver-Operating Characteristic Curve (AUROC)",
        "Odds Ratio (OR)",
    ]
    return clean_sheet("performance_metrics", pl.DataFrame({c: [r.get(c) for r in rows] for c in cols}))


def _samples(rows: list[tuple[str, int, str]]) -> pl.DataFrame:
    return clean_sheet(
        "evaluation_sample_sets",
        pl.DataFrame(
            {
                "PGS Sample Set (PSS)": [r[0] for r in rows],
                "Number of Individuals": [str(r[1]) for r in rows],
                "Broad Ancestry Category": [r[2] for r in rows],
            }
        ),
    )


def test_best_performance_prefers_matched_ancestry_then_discrimination_then_size() -> None:
    def row(ppm: str, pss: str, auroc: str | None = None, odds: str | None = None) -> dict[str, Any]:
        return {
            "PGS Performance Metric (PPM) ID": ppm,
            "Evaluated Score": "PGS1",
            "PGS Sample Set (PSS)": pss,
            "Area Under the Receiver-Operating Characteristic Curve (AUROC)": auroc,
            "Odds Ratio (OR)": odds,
        }

    samples = _samples(
        [
            ("PSS_BIG_EAS", 500000, "East Asian"),
            ("PSS_EUR_SMALL", 1000, "European"),
            ("PSS_EUR_LARGE_OR", 90000, "European"),
            ("PSS_MIXED", 10000, "European"),
            ("PSS_MIXED", 9000, "African unspecified"),
        ]
    )
    perf = _perf(
        [
            row("PPM1", "PSS_BIG_EAS", auroc="0.75"),
            row("PPM2", "PSS_EUR_SMALL", auroc="0.61"),
            row("PPM3", "PSS_EUR_LARGE_OR", odds="1.5 [1.4,1.6]"),
            row("PPM4", "PSS_MIXED", auroc="0.70"),
        ]
    )
    best = best_performance(perf, samples)
    assert best["ppm_id"].to_list() == ["PPM2"]  # European-matched and has AUROC beats larger ones
    assert best["n_evaluations"].to_list() == [4]
    assert best_performance(perf, samples, ancestry="EAS")["ppm_id"].to_list() == ["PPM1"]
    # among matched with AUROC, the larger sample wins
    perf2 = _perf([row("PPM2", "PSS_EUR_SMALL", auroc="0.61"), row("PPM5", "PSS_EUR_LARGE_OR", auroc="0.60")])
    assert best_performance(perf2, samples)["ppm_id"].to_list() == ["PPM5"]
    # no matched sample set at all: discrimination, then size
    assert best_performance(perf, samples, ancestry="AFR")["ppm_id"].to_list() == ["PPM1"]


# -- pulling from the fake catalog ----------------------------------------------------------------
async def test_pull_stores_cleaned_sheets_and_loads_offline(online: FakeCatalog, monkeypatch) -> None:
    result = await pull_metadata()
    assert result.release == "2024-06-11" and not result.skipped
    assert {s.sheet: s.n_rows for s in result.sheets} == {
        "scores": 5,
        "performance_metrics": 7,
        "evaluation_sample_sets": 7,
        "score_development_samples": 5,
        "publications": 4,
        "efo_traits": 5,
        "best_performance": 5,
    }
    stored = default_store().query(asset="catalog_metadata")
    assert all(isinstance(a, CatalogMetadata) and a.catalog_release == "2024-06-11" for a in stored)
    assert {a.source for a in stored if a.sheet == "scores"} == {
        online.ftp_url + "metadata/pgs_all_metadata_scores.csv"
    }

    # offline from here on
    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", "http://127.0.0.1:9/rest/")
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", "http://127.0.0.1:9/pub/databases/spot/pgs/")
    reset_settings()
    online.hits.clear()
    again = await pull_metadata()
    assert again.skipped and again.release == "2024-06-11"
    tables = load_metadata()
    assert online.hits == []
    assert tables.release == "2024-06-11"
    scores = {r["pgs_id"]: r for r in tables.scores.iter_rows(named=True)}
    assert scores["PGS004255"]["genome_build"] == "GRCh37"  # hg19 in the sheet
    assert scores["PGS000001"]["genome_build"] is None  # NR
    assert scores["PGS001229"]["n_variants"] == 51209
    perf = tables.performance_metrics
    assert perf is not None
    ppm1 = perf.filter(pl.col("ppm_id") == "PPM000001").row(0, named=True)
    assert (ppm1["c_index_estimate"], ppm1["c_index_ci_lower"], ppm1["or_estimate"]) == (0.622, 0.619, 1.55)
    ppm7 = perf.filter(pl.col("ppm_id") == "PPM000007").row(0, named=True)
    assert (ppm7["beta_estimate"], ppm7["beta_se"]) == (-0.7, 0.15)
    best = dict(tables.best_performance.select("pgs_id", "ppm_id").iter_rows())  # type: ignore[union-attr]
    assert best == {
        "PGS000001": "PPM000001",
        "PGS000002": "PPM000003",
        "PGS000802": "PPM000004",
        "PGS001229": "PPM000006",
        "PGS004255": "PPM000005",
    }
    status = metadata_status()
    assert status["release"] == "2024-06-11" and len(status["sheets"]) == 7


async def test_refresh_downloads_only_a_new_release(online: FakeCatalog) -> None:
    first = await refresh_metadata()
    assert not first.skipped
    n = online.count("/pub/databases/spot/pgs/metadata/pgs_all_metadata_scores.csv")
    same = await refresh_metadata()
    assert same.skipped and "is current" in same.reason
    assert online.count("/pub/databases/spot/pgs/metadata/pgs_all_metadata_scores.csv") == n
    online.release = "2024-07-02"
    newer = await refresh_metadata()
    assert newer.release == "2024-07-02" and not newer.skipped
    assert load_metadata().release == "2024-07-02"
    assert load_metadata(release="2024-06-11").release == "2024-06-11"
    online.add_fault("/rest/info", "status", status=503, times=10)
    with pytest.raises(CatalogError, match="cannot read the catalog's current release"):
        await refresh_metadata()


def test_no_metadata_is_a_clear_error(env: Path) -> None:
    with pytest.raises(NotFoundError, match="catalog metadata pull"):
        load_metadata()


async def test_a_sheet_with_the_wrong_columns_is_refused(online: FakeCatalog) -> None:
    scores = "/pub/databases/spot/pgs/metadata/pgs_all_metadata_scores.csv"
    online.serve_md5 = False
    online.add_fault(
        scores,
        "substitute",
        source="/pub/databases/spot/pgs/metadata/pgs_all_metadata_efo_traits.csv",
        times=10,
    )
    with pytest.raises(DownloadError, match="lacks column"):
        await pull_metadata()
    assert default_store().query(asset="catalog_metadata") == []
    assert online.count(scores) == 1  # a wrong file is not fetched again


async def test_a_sheet_that_fails_transiently_is_retried(online: FakeCatalog) -> None:
    online.add_fault("/pub/databases/spot/pgs/metadata/pgs_all_metadata_publications.csv", "cut")
    online.add_fault("/rest/info", "status", status=500)
    result = await pull_metadata()
    assert result.release == "2024-06-11" and len(result.sheets) == 7


# -- HuggingFace mirror -------------------------------------------------------------------------
class FolderHub:
    """A stand-in for a HF dataset repo: a local folder (same calls as HfHub)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []

    def create_repo(self, repo_id: str, *, repo_type: str, exist_ok: bool, token: str | None) -> None:
        assert repo_type == "dataset" and exist_ok
        self.calls.append(f"create {repo_id}")
        (self.root / repo_id).mkdir(parents=True, exist_ok=True)

    def upload_folder(
        self, *, repo_id: str, folder_path: Path, repo_type: str, commit_message: str, token: str | None
    ) -> None:
        self.calls.append(f"upload {repo_id}: {commit_message}")
        shutil.copytree(folder_path, self.root / repo_id, dirs_exist_ok=True)

    def download(
        self, repo_id: str, *, repo_type: str, allow_patterns: list[str], local_dir: Path, token: str | None
    ) -> Path:
        import fnmatch

        src = self.root / repo_id
        for p in src.rglob("*"):
            rel = p.relative_to(src).as_posix()
            if p.is_file() and any(fnmatch.fnmatch(rel, pat) for pat in allow_patterns):
                (local_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, local_dir / rel)
        return local_dir


async def test_publish_and_pull_through_a_dataset_repo(online: FakeCatalog, tmp_path: Path) -> None:
    await pull_metadata()
    hub = FolderHub(tmp_path / "hub")
    done = publish_metadata("me/pgs-meta", hub=hub)
    assert done["release"] == "2024-06-11" and len(done["sheets"]) == 7
    assert (tmp_path / "hub/me/pgs-meta/latest.json").exists()
    assert (tmp_path / "hub/me/pgs-meta/releases/2024-06-11/scores.parquet").exists()

    other = LocalStore(tmp_path / "other-store")
    pulled = pull_metadata_from_hf("me/pgs-meta", hub=hub, store=other)
    assert pulled.release == "2024-06-11" and pulled.source == "hf://datasets/me/pgs-meta"
    assert {s.cid for s in pulled.sheets} == {v["cid"] for v in done["sheets"].values()}
    assert load_metadata(other).scores.equals(load_metadata().scores)
    assert pull_metadata_from_hf("me/pgs-meta", hub=hub, store=other).skipped

    # a tampered file is refused and nothing is stored
    victim = tmp_path / "hub/me/pgs-meta/releases/2024-06-11/publications.parquet"
    victim.write_bytes(victim.read_bytes() + b"x")
    third = LocalStore(tmp_path / "third-store")
    with pytest.raises(CatalogError, match="does not match its CID"):
        pull_metadata_from_hf("me/pgs-meta", hub=hub, store=third)
    assert third.query(asset="catalog_metadata") == []


def test_publish_needs_a_repo(env: Path) -> None:
    with pytest.raises(InputError, match="PRSGAZER_CATALOG_HF_REPO"):
        publish_metadata()
