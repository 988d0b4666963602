"""explain_result: stored results and reports read in plain language, with coverage, ancestry and quality caveats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastmcp.exceptions import ToolError

pytestmark = pytest.mark.anyio

HEADER = "sample_id\tpgs_id\tsum\tavg\tdenom\tn_matched\tn_variants\toverlap\tstatus\tn_missing\tn_imputed\treason\n"


@pytest.fixture
def person(tmp_path: Path, shared_data: Path):
    """A stored person (VCF with ancestry EUR → genotypes) and a catalog scoring file for breast cancer."""
    from prsgazer.assets import Genotypes
    from prsgazer.storage import default_store

    store = default_store()
    vcf = store.put(shared_data / "genomes/cineca/cineca_synthetic_subset.vcf.gz", "vcf", superpopulation="EUR")
    gpath = tmp_path / "g.parquet"
    gpath.write_bytes(b"stand-in genotypes")
    genotypes = store.upload(Genotypes(path=gpath, vcf_cid=vcf.cid, sample_id="P1"))
    sf = store.put(
        shared_data / "scorefiles/PGS000001.txt.gz", "scoring_file", pgs_id="PGS000001", trait="Breast cancer"
    )
    return store, genotypes, sf


def put_result(store, tmp_path: Path, genotypes, sf, rows: str, **fields):
    from prsgazer.assets import PrsResult

    p = tmp_path / f"r{len(list(tmp_path.glob('r*.tsv')))}.tsv"
    p.write_text(HEADER + rows)
    return store.upload(
        PrsResult(path=p, pgs_id="PGS000001", genotypes_cid=genotypes.cid, scoring_file_cid=sf.cid, **fields)
    )


async def test_a_persons_result_without_panel_or_catalog_metadata(client, person, tmp_path: Path) -> None:
    store, genotypes, sf = person
    r = put_result(
        store, tmp_path, genotypes, sf, "P1\tPGS000001\t0.5\t0.0032\t154\t70\t77\t0.909\tok\t0\t0\t\n",
        sample_id="P1", n_matched=70, n_variants=77, overlap=0.909, status="ok", coverage="wgs",
        absent_means="homozygous reference", genome_build="GRCh37",
    )  # fmt: skip
    got = (await client.call_tool("explain_result", {"cid": r.cid})).structured_content
    (s,) = got["scores"]
    assert got["sample_id"] == "P1" and got["superpopulation"] == "European"  # from the VCF behind the genotypes
    assert s["sum"] == 0.5 and s["coverage"] == 0.909 and s["trait"] == "Breast cancer"
    assert s["percentile"] is None and s["reliability"] == "low"
    assert "could not be placed against a reference group" in s["headline"] and "reference panel" in s["headline"]
    assert any("not a diagnosis" in c for c in s["caveats"])
    assert any("91% of the score's variants were found" in d for d in s["details"])
    assert any("homozygous reference" in n for n in got["notes"]) and any("search_scores" in n for n in got["notes"])
    assert got["related_cids"] == {"genotypes": genotypes.cid, "scoring_file": sf.cid}
    assert s["headline"] in got["text"] and "Limits:" in got["text"]


async def test_catalog_quality_and_ancestry_match_enter_the_reading(client, catalog, person, tmp_path: Path) -> None:
    store, genotypes, sf = person
    await client.call_tool("search_scores", {"text": "breast cancer"})  # stores the catalog metadata
    r = put_result(
        store, tmp_path, genotypes, sf, "P1\tPGS000001\t0.5\t0.0032\t154\t76\t77\t0.987\tok\t0\t0\t\n",
        sample_id="P1", overlap=0.987, status="ok",
    )  # fmt: skip
    got = (await client.call_tool("explain_result", {"cid": r.cid})).structured_content
    (s,) = got["scores"]
    assert s["quality"] == "C-index 0.622 (95% CI 0.619–0.627): modest"  # the catalog's CI now comes along
    assert any("separated people with and without breast cancer modestly" in d for d in s["details"])
    assert any("like you" in d for d in s["details"])  # evaluated in Europeans, the person is EUR
    assert not any("search_scores" in n for n in got["notes"])
    other = (await client.call_tool("explain_result", {"cid": r.cid, "superpopulation": "AFR"})).structured_content
    assert other["superpopulation"] == "African" and any("not African" in c for c in other["scores"][0]["caveats"])


async def test_failed_and_cohort_results(client, person, tmp_path: Path) -> None:
    store, genotypes, sf = person
    failed = put_result(
        store, tmp_path, genotypes, sf, "P1\tPGS000001\tNA\tNA\t0\t10\t77\t0.13\tfailed\t0\t0\toverlap 13% < 75%\n",
        overlap=0.13, status="failed", reason="overlap 13% < 75%", n_matched=10, n_variants=77,
    )  # fmt: skip
    got = (await client.call_tool("explain_result", {"cid": failed.cid})).structured_content
    assert got["scores"][0]["status"] == "failed" and "was not computed: overlap 13% < 75%" in got["text"]
    cohort = put_result(
        store, tmp_path, genotypes, sf,
        "A\tPGS000001\t1.0\t0.1\t10\t9\t10\t0.9\tok\t0\t0\t\nB\tPGS000001\t3.0\t0.3\t10\t9\t10\t0.9\tok\t0\t0\t\n",
        n_samples=2, overlap=0.8, status="ok",
    )  # fmt: skip
    got = (await client.call_tool("explain_result", {"cid": cohort.cid})).structured_content
    assert "2 samples scored with PGS000001 (Breast cancer): SUM mean 2, SD 1.41421" in got["text"]
    assert any("Only 80%" in c for c in got["scores"][0]["caveats"])


async def test_a_report_is_read_from_its_own_interpretation(client, person, tmp_path: Path) -> None:
    from prsgazer.assets import PrsReport

    store, genotypes, _ = person
    report = {
        "version": 1, "sample_id": "P1", "superpopulation": "EUR", "superpopulation_source": "vcf",
        "panel": "demo_panel", "superpopulations": ["AFR", "EUR"],
        "scores": [
            {
                "pgs_id": "DEMO001", "trait": "Height", "status": "ok", "sum": 1.25, "avg": 0.01,
                "n_variants": 100, "n_matched": 98, "overlap": 0.98,
                "percentiles": [
                    {"superpopulation": "AFR", "percentile": None, "reason": "too few samples"},
                    {"superpopulation": "EUR", "percentile": 91.5, "z": 1.37},
                ],
                "quality": {"metric": "AUROC", "value": 0.71, "label": "good", "text": "AUROC 0.710: good"},
                "interpretation": {
                    "headline": "Your Height score is at the 92nd percentile.", "details": ["d1"],
                    "caveats": ["This is not a diagnosis."], "reliability": "moderate", "percentile": 91.5,
                },
            },
            {
                "pgs_id": "DEMO002", "trait": "LDL", "status": "ok", "sum": -0.5, "overlap": 0.95,
                "percentiles": [{"superpopulation": "EUR", "percentile": 12.0, "z": -1.2}],
            },
        ],
        "failures": [{"pgs_id": "DEMO003", "step": "match", "error": "overlap 10% < 75%"}],
        "notes": ["Percentiles use the same matched variants as the person's score."],
    }  # fmt: skip
    p = tmp_path / "report.json"
    p.write_text(json.dumps(report))
    rep = store.upload(PrsReport(path=p, sample_id="P1", genotypes_cid=genotypes.cid, superpopulation="EUR"))
    got = (await client.call_tool("explain_result", {"cid": rep.cid})).structured_content
    first, second = got["scores"]
    assert first["headline"] == "Your Height score is at the 92nd percentile." and first["reliability"] == "moderate"
    assert first["percentiles"] == {"AFR": None, "EUR": 91.5} and first["reference_group"] == "EUR"
    assert first["quality"] == "AUROC 0.710: good" and first["z"] == 1.37
    # no reading stored for the second score: made here from its numbers
    assert second["percentile"] == 12.0 and "12th percentile" in second["headline"] and "lower" in second["headline"]
    assert any("DEMO003 was not computed (match)" in n for n in got["notes"])
    assert any("Reference panel demo_panel" in n for n in got["notes"])
    assert got["related_cids"] == {"genotypes": genotypes.cid}


async def test_only_results_and_reports_are_explained(client, person) -> None:
    _, _, sf = person
    with pytest.raises(ToolError, match=r"is a scoring_file; explain_result reads a prs_result or prs_report"):
        await client.call_tool("explain_result", {"cid": sf.cid})
    with pytest.raises(ToolError, match="explain_result bad input"):
        await client.call_tool("explain_result", {"cid": "bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
