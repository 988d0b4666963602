"""`ops.views`, `ops.scorefiles` (candidates) and `ops.genotypes.genotypes_in_zip`: what the doors show.

- a report as rows: unavailable values stay null with their reason (never 0), failures are rows;
- the reference samples behind stored percentiles reproduce every stored percentile, and a
  percentiles record that does not match its inputs is refused;
- candidates: stored files offline (with the note that the catalog cannot be searched), catalog
  metadata hits with their quality once the metadata is stored;
- genome uploads as a zip.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from prsgazer.errors import InputError, PrsgazerError


def _report() -> Any:
    from prsgazer.engine.interpret import build_report

    results = [
        {"pgs_id": "PGS1", "trait": "Height", "status": "ok", "sum": 0.5, "n_variants": 10, "n_matched": 9,
         "overlap": 0.9, "absent_means": "hom_ref", "prs_result_cid": "c1", "scoring_file_cid": "s1"},
        {"pgs_id": "PGS2", "trait": "LDL", "status": "ok", "sum": 0.0, "n_variants": 4, "n_matched": 4,
         "overlap": 1.0},
        {"pgs_id": "PGS3", "trait": "CAD", "status": "failed", "reason": "only 10% of variants matched",
         "n_variants": 100, "n_matched": 10, "overlap": 0.1},
    ]  # fmt: skip
    pct = [
        {"pgs_id": "PGS1", "superpopulation": "EUR", "percentile": 12.5, "z": -1.1,
         "percentile_method": "same_variants", "n_reference": 200},
        {"pgs_id": "PGS1", "superpopulation": "ALL", "percentile": 20.0, "z": -0.8,
         "percentile_method": "same_variants", "n_reference": 1000},
        {"pgs_id": "PGS2", "superpopulation": "EUR", "percentile": None, "z": None, "percentile_method": "n/a",
         "percentile_reason": "only 1 reference sample(s) in EUR"},
        {"pgs_id": "PGS2", "superpopulation": "ALL", "percentile": 0.0, "z": -3.0,
         "percentile_method": "same_variants", "n_reference": 1000},
    ]  # fmt: skip
    return build_report(sample_id="P", results=results, percentiles=pct, superpopulation="EUR",
                        failures=[{"pgs_id": "PGS4", "step": "fetch_scoring_file", "error": "offline"}])  # fmt: skip


def test_report_table_keeps_na_with_its_reason_and_never_zero() -> None:
    from prsgazer.ops.views import report_table, report_tsv

    report = _report()
    t = report_table(report)
    rows = {r["pgs_id"]: r for r in t.iter_rows(named=True)}
    assert list(rows) == ["PGS1", "PGS2", "PGS3", "PGS4"]
    assert [c for c in t.columns if c.startswith("percentile_")] == ["percentile_EUR", "percentile_ALL"]
    one = rows["PGS1"]
    assert (one["percentile"], one["z"], one["percentile_ALL"], one["sum"]) == (12.5, -1.1, 20.0, 0.5)
    assert one["reading"] == report.scores[0].interpretation.headline and one["note"] is None
    two = rows["PGS2"]  # a real 0 stays 0 (sum, ALL percentile); an unavailable value is null with its reason
    assert two["sum"] == 0.0 and two["percentile_ALL"] == 0.0
    assert two["percentile"] is None and two["z"] is None and two["note"] == "only 1 reference sample(s) in EUR"
    three = rows["PGS3"]
    assert three["status"] == "failed" and three["percentile"] is None and three["percentile_ALL"] is None
    assert three["note"] == "only 10% of variants matched" and three["reading"] is None
    assert rows["PGS4"]["note"] == "fetch_scoring_file: offline" and rows["PGS4"]["n_variants"] is None
    tsv = pl.read_csv(report_tsv(report).encode(), separator="\t", null_values="NA")
    assert tsv["percentile"].to_list() == [12.5, None, None, None]


@pytest.fixture
def stored_person(synth_panel: Any, person_vcf: tuple[Path, str], store: Any) -> dict[str, Any]:
    """The synthetic person scored and placed among the panel through the ops layer (as the tasks do)."""
    from prsgazer.assets import Vcf
    from prsgazer.ops.genotypes import normalize_stored
    from prsgazer.ops.panels import register_panel
    from prsgazer.ops.params import ScoreParams
    from prsgazer.ops.report import percentiles_stored
    from prsgazer.ops.score import score_stored
    from prsgazer.ops.scorefiles import ingest_scorefile

    info, files = synth_panel
    vcf, _ = person_vcf
    params = ScoreParams()
    panel = register_panel(store, info.prefix, "synth", "GRCh38")
    genotypes = normalize_stored(store, store.upload(Vcf(path=vcf, genome_build="GRCh38", coverage="wgs")), params)
    sfs = [ingest_scorefile(store, f) for f in files]
    results = score_stored(store, genotypes, sfs, params, reference_panel=panel)
    pct = percentiles_stored(store, genotypes, sfs, results, params, reference_panel=panel)
    return {"panel": panel, "results": results, "percentiles": pct, "info": info}


def test_reference_samples_reproduce_the_stored_percentiles(stored_person: dict[str, Any], store: Any) -> None:
    from prsgazer.engine.reference import mid_rank_percentile, read_panel_psam
    from prsgazer.ops.views import reference_samples

    pct = stored_person["percentiles"]
    view = reference_samples(store, pct)
    assert view.method == "same_variants" and view.panel == "synth"
    psam = read_panel_psam(Path(f"{stored_person['info'].prefix}.psam"))
    counts = dict(psam.group_by("superpopulation").len().iter_rows())
    stored = pl.read_csv(store.fetch(pct.cid).path, separator="\t", null_values="NA")
    for r in stored_person["results"]:
        assert r.status == "ok"
        for g, n in counts.items():
            assert len(view.scores(r.pgs_id, g)) == n
        sums = pl.read_csv(store.fetch(r.cid).path, separator="\t")
        value = view.value("P1", r.pgs_id)
        assert value == sums["sum"][0]  # the panel has every matched variant: the full sum is compared
        for row in stored.filter(pl.col("pgs_id") == r.pgs_id).iter_rows(named=True):
            ref = view.scores(r.pgs_id, row["superpopulation"])
            assert math.isclose(mid_rank_percentile(value, ref), row["percentile"], rel_tol=1e-12)
            if row["z"] is not None:
                assert math.isclose((value - ref.mean()) / ref.std(ddof=1), row["z"], rel_tol=1e-9)
    again = reference_samples(store, pct)  # from the cache dir now
    assert again.samples.equals(view.samples) and again.values.equals(view.values)


def test_reference_samples_refuse_percentiles_their_inputs_do_not_give(
    stored_person: dict[str, Any], store: Any, tmp_path: Path
) -> None:
    from prsgazer.ops.views import reference_samples

    pct = stored_person["percentiles"]
    table = pl.read_csv(store.fetch(pct.cid).path, separator="\t", null_values="NA")
    bent = table.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("percentile") + 1.0)
                              .otherwise(pl.col("percentile")).alias("percentile"))  # fmt: skip
    path = tmp_path / "bent.tsv"
    bent.write_csv(path, separator="\t", null_value="NA")
    fake = store.upload(dataclasses.replace(pct, path=path, task_key=""))
    with pytest.raises(PrsgazerError, match="were not computed with the inputs recorded on them"):
        reference_samples(store, fake)


def test_distribution_plot_marks_the_person(stored_person: dict[str, Any], store: Any) -> None:
    from prsgazer.notebooks.figures import density, distribution_svg
    from prsgazer.ops.views import reference_samples

    view = reference_samples(store, stored_person["percentiles"])
    pgs = stored_person["results"][0].pgs_id
    svg = distribution_svg(view, pgs, "P1", title=pgs, compared_with="EUR", percentile=42.0)
    assert svg is not None and svg.startswith("<svg") and "P1: " in svg and "42nd percentile in EUR" in svg
    assert all(f"{g} (n=" in svg for g in ("AFR", "AMR", "EAS", "EUR", "SAS"))
    assert svg == distribution_svg(view, pgs, "P1", title=pgs, compared_with="EUR", percentile=42.0)  # reproducible
    grid = np.linspace(-10, 10, 4001)
    assert math.isclose(np.trapezoid(density(np.array([0.0, 1.0, 3.0]), grid), grid), 1.0, rel_tol=1e-6)


def test_candidates_offline_list_stored_files_and_say_the_catalog_is_unavailable(synth_panel: Any, store: Any) -> None:
    from prsgazer.ops.scorefiles import NO_METADATA, ingest_scorefile, score_candidates

    _, files = synth_panel
    for f in files:
        ingest_scorefile(store, f)
    every = score_candidates(store)
    assert [c.pgs_id for c in every.candidates] == ["PGS900001", "PGS900002", "PGS900003", "PGS900004"]
    assert every.notes == [NO_METADATA] and every.catalog_release is None
    c = every.candidates[1]
    assert (c.stored, c.n_variants, c.builds, c.quality) == (True, 150, ["GRCh38"], None) and c.scoring_file_cid
    assert [c.pgs_id for c in score_candidates(store, "pgs900003").candidates] == ["PGS900003"]
    other = score_candidates(store, build="GRCh37")
    assert other.candidates == [] and "4 stored scoring file(s) of another build" in other.notes[0]
    none = score_candidates(store, "xyzzy")
    assert none.candidates == [] and "fewer or broader words" in none.notes[-1]


def test_candidates_search_the_stored_catalog_metadata(
    fake_catalog_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prsgazer.catalog import pull_metadata
    from prsgazer.config import reset_settings
    from prsgazer.ops.scorefiles import score_candidates
    from prsgazer.storage import default_store

    fake_catalog_server.reset()
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", fake_catalog_server.rest_url)
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", fake_catalog_server.ftp_url)
    reset_settings()
    store = default_store()
    asyncio.run(pull_metadata(store=store))
    found = score_candidates(store, "breast cancer")
    assert [c.pgs_id for c in found.candidates] == ["PGS000001", "PGS000002"]
    assert found.catalog_release == "2024-06-11" and found.notes == []
    top = found.candidates[0]
    assert (top.source, top.stored, top.quality, top.performance) == ("catalog", False, "modest", "C-index 0.622")
    assert "GRCh38" in top.builds and top.evaluation_ancestry


def _pfile(d: Path, stem: str) -> None:
    for ext in (".pgen", ".pvar", ".psam"):
        (d / f"{stem}{ext}").write_bytes(b"x")


def test_genotypes_in_zip(tmp_path: Path) -> None:
    from prsgazer.ops.genotypes import genotypes_in_zip

    src = tmp_path / "src"
    src.mkdir()
    _pfile(src, "cohort")
    z = tmp_path / "cohort.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(src.iterdir()):
            zf.write(p, f"../../deep/{p.name}")  # a member name reaching out of the folder stays inside
    got = genotypes_in_zip(z, tmp_path / "out")
    assert got == tmp_path / "out" / "cohort.pgen" and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "cohort.pgen", "cohort.psam", "cohort.pvar"]  # fmt: skip
    assert not (tmp_path / "deep").exists()
    bed = tmp_path / "bed.zip"
    with zipfile.ZipFile(bed, "w") as zf:
        for ext in (".bed", ".bim", ".fam"):
            zf.writestr(f"old{ext}", "x")
    with pytest.raises(InputError, match="plink1 filesets"):
        genotypes_in_zip(bed, tmp_path / "out2")
    (tmp_path / "notzip.zip").write_text("hello")
    with pytest.raises(InputError, match="not a zip archive"):
        genotypes_in_zip(tmp_path / "notzip.zip", tmp_path / "out3")
