"""Real Flyte local runs of prs_report and reference_distributions, checked against the engine called
directly (scores, percentiles on the same variants, distribution statistics recomputed with numpy)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer import runner
from prsgazer.errors import InputError

pytestmark = pytest.mark.anyio

GROUPS = ["AFR", "AMR", "EAS", "EUR", "SAS", "ALL"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Stored:
    panel: object
    vcf: object
    files: list
    person_pop: str
    prefix: Path


@pytest.fixture
def stored(synth_panel, person_vcf) -> Stored:
    from prsgazer.assets import Vcf
    from prsgazer.storage import default_store
    from prsgazer.storage.plink import put_pfile

    info, files = synth_panel
    store = default_store()
    panel = put_pfile(store, info.prefix, "reference_panel", panel="synth", genome_build="GRCh38",
                      n_samples=info.n_samples, superpopulations=sorted(info.superpopulations))  # fmt: skip
    vcf = store.upload(Vcf(path=person_vcf[0], sample_id="P1", genome_build="GRCh38", coverage="wgs",
                           superpopulation=person_vcf[1]))  # fmt: skip
    traits = ["Height (synthetic)", "Type 2 diabetes (synthetic)", "LDL (synthetic)", "Height second (synthetic)"]
    sfs = [
        store.put(f, "scoring_file", pgs_id=f"PGS90000{i + 1}", genome_build="GRCh38", trait=traits[i])
        for i, f in enumerate(files)
    ]
    return Stored(panel=panel, vcf=vcf, files=sfs, person_pop=person_vcf[1], prefix=info.prefix)


@pytest.fixture
def engine(engine_report, stored: Stored):  # type: ignore[no-untyped-def]
    """`engine_report` on the stored person, panel and the given stored scoring files."""
    from prsgazer.storage import default_store

    def run(files: list):  # type: ignore[no-untyped-def]
        store = default_store()
        vcf = store.fetch(stored.vcf.cid).path
        return engine_report(vcf, Path(store.fetch(stored.panel.cid).path).with_suffix(""),
                             [store.fetch(f.cid).path for f in files])  # fmt: skip

    return run


async def test_prs_report_local_run_equals_engine(stored: Stored, engine) -> None:
    from prsgazer.engine.interpret.report import Report
    from prsgazer.storage import default_store

    store = default_store()
    ids = [f.pgs_id for f in stored.files]
    outcome = await runner.run("prs_report", {"sample_id": "P1", "pgs_ids": [*ids, "NOT_STORED"], "panel": "synth"})
    assert outcome.kind == "workflow" and outcome.mode == "local"
    out = outcome.outputs
    assert out["asset"] == "prs_report" and out["sample_id"] == "P1" and out["panel_cid"] == stored.panel.cid
    assert out["superpopulation"] == stored.person_pop  # inferred on the panel's PCA: the person's own
    doc = Report.model_validate_json(Path(store.fetch(out["cid"]).path).read_text())
    assert (doc.n_total, doc.n_ok, doc.n_failed) == (5, 4, 1)
    assert doc.failures[0].pgs_id == "NOT_STORED" and doc.failures[0].step == "fetch_scoring_file"
    assert doc.superpopulation_source == "ancestry" and doc.superpopulations == GROUPS
    assert doc.ancestry is not None and doc.ancestry.superpopulation == stored.person_pop
    assert doc.ancestry.probability > 0.9 and not doc.ancestry.low_confidence
    for s in doc.scores:  # adjusted within the inferred population, on the same variants as the percentiles
        a = s.adjusted
        assert a is not None and a.ancestry == stored.person_pop and a.n_reference and a.n_reference > 20
        assert a.z_pc_mean is not None and a.z_pc_meanvar is not None
        assert a.percentile == pytest.approx(s.percentile_in(stored.person_pop).percentile, abs=100 / a.n_reference)

    run, pct = engine(stored.files)
    sums = {p: s for p, s in run.table.select("pgs_id", "sum").iter_rows()}
    for s in doc.scores:
        assert s.status == "ok" and s.sum == sums[s.pgs_id]
        summ = run.match.summary(s.pgs_id)
        assert (s.n_matched, s.n_variants) == (summ.n_matched, summ.n_variants)
        assert s.trait.endswith("(synthetic)")
        want = pct.filter(pl.col("pgs_id") == s.pgs_id)
        for g in GROUPS:
            e = s.percentile_in(g)
            row = want.filter(pl.col("superpopulation") == g).row(0, named=True)
            assert e is not None and e.method == "same_variants"
            assert e.percentile == row["percentile"] and e.z == row["z"] and e.n_reference == row["n_reference"]
        mine = s.percentile_in(doc.superpopulation)
        assert s.interpretation is not None and s.interpretation.percentile == pytest.approx(mine.percentile, abs=0.01)
    text = doc.text()
    assert "Percentile per reference superpopulation" in text and "NOT_STORED" in text

    # lineage: the report leads back to the person's VCF, the panel and the scoring files
    lineage = json.dumps(store.lineage(out["cid"]), default=str)
    for cid in (stored.vcf.cid, stored.panel.cid, stored.files[0].cid, out["percentiles_cid"]):
        assert cid in lineage
    for asset in ("ancestry", "ancestry_scores", "ancestry_model"):
        assert f"asset='{asset}'" in lineage

    # the rerun is a lookup: same report, marked cached
    again = await runner.run("prs_report", {"sample_id": "P1", "pgs_ids": [*ids, "NOT_STORED"], "panel": "synth"})
    assert again.outputs["cid"] == out["cid"] and again.outputs["metrics"]["cached"] is True


async def test_report_views_show_the_ancestry_behind_the_report(stored: Stored) -> None:
    """What the notebook shows of a report's ancestry: the reference samples on PC1/PC2 are the stored
    PCA's, the person's point is the stored projection and lies nearest its own population's centre,
    and the table's adjusted columns are the report's adjusted entries."""
    from prsgazer.assets import Ancestry, AncestryModel
    from prsgazer.engine.ancestry import AncestryPca
    from prsgazer.engine.interpret.report import Report
    from prsgazer.notebooks import export, figures
    from prsgazer.ops import views
    from prsgazer.storage import default_store

    store = default_store()
    ids = [f.pgs_id for f in stored.files]
    outcome = await runner.run("prs_report", {"sample_id": "P1", "pgs_ids": ids, "panel": "synth"})
    doc = Report.model_validate_json(Path(store.fetch(outcome.outputs["cid"]).path).read_text())
    view = views.ancestry_view(store, doc)
    assert view is not None and view.superpopulation == stored.person_pop == doc.superpopulation
    anc = store.get(view.ancestry_cid)
    assert isinstance(anc, Ancestry) and anc.sample_id == "P1" and anc.cid == doc.ancestry.ancestry_cid
    model = store.get(view.model_cid)
    assert isinstance(model, AncestryModel) and model.panel_cid == stored.panel.cid
    pca = AncestryPca.read(store.fetch(model.cid).path).pc_frame()
    assert view.reference.equals(pca.select("sample_id", "superpopulation", "PC1", "PC2"))
    row = pl.read_csv(store.fetch(anc.cid).path, separator="\t").row(0, named=True)
    assert view.person == (row["PC1"], row["PC2"])
    centres = view.reference.group_by("superpopulation").agg(pl.col("PC1").mean(), pl.col("PC2").mean())
    dist = {g: (a - view.person[0]) ** 2 + (b - view.person[1]) ** 2 for g, a, b in centres.iter_rows()}
    assert min(dist, key=dist.__getitem__) == stored.person_pop

    svg = figures.pca_svg(view)
    assert svg is not None and svg.startswith("<svg")
    for g in sorted(set(view.reference["superpopulation"])):
        n = view.reference.filter(pl.col("superpopulation") == g).height
        assert f"{g} (n={n})" in svg
    assert f"P1: {stored.person_pop}, p={view.probability:.2f}" in svg
    html = export.ancestry_html(view, svg, doc)
    assert f"most similar to <b>{stored.person_pop}</b>" in html and "<figure class=\"prs-pca\"><svg" in html

    table = views.report_table(doc)
    for s in doc.scores:
        r = table.filter(pl.col("pgs_id") == s.pgs_id).row(0, named=True)
        a = s.adjusted
        assert (r["adjusted_ancestry"], r["adjusted_percentile"], r["adjusted_z"]) == (a.ancestry, a.percentile, a.z)
        assert (r["z_pc_mean"], r["z_pc_meanvar"]) == (a.z_pc_mean, a.z_pc_meanvar)
    assert "pct in inferred ancestry" in export.results_html(table)

    plain = await runner.run("prs_report", {"sample_id": "P1", "pgs_ids": ids, "panel": "synth", "ancestry": False})
    doc2 = Report.model_validate_json(Path(store.fetch(plain.outputs["cid"]).path).read_text())
    assert views.ancestry_view(store, doc2) is None
    assert "not inferred (ancestry inference was not run)" in export.ancestry_html(None, None, doc2)
    assert views.report_table(doc2)["adjusted_percentile"].null_count() == len(ids)


async def test_prs_report_by_trait_and_chosen_superpopulation(stored: Stored) -> None:
    from prsgazer.engine.interpret.report import Report
    from prsgazer.storage import default_store

    store = default_store()
    other = "AFR" if stored.person_pop != "AFR" else "EAS"
    outcome = await runner.run("prs_report", {"vcf_cid": stored.vcf.cid, "trait": "height", "superpopulation": other})
    doc = Report.model_validate_json(Path(store.fetch(outcome.outputs["cid"]).path).read_text())
    assert {s.pgs_id for s in doc.scores} == {"PGS900001", "PGS900004"}  # the two height scores
    assert doc.superpopulation == other and doc.superpopulation_source == "given"
    assert doc.panel == "synth"  # the only stored GRCh38 panel is used when none is named
    for s in doc.scores:
        want_p = s.percentile_in(other).percentile
        assert s.interpretation is not None and s.interpretation.percentile == pytest.approx(want_p, abs=0.01)


async def test_prs_report_bad_input_is_an_input_error(stored: Stored) -> None:
    with pytest.raises(InputError, match=r"nope.*no such panel"):
        await runner.run("prs_report", {"sample_id": "P1", "pgs_ids": ["PGS900001"], "panel": "nope"})
    with pytest.raises(InputError, match="superpopulation 'XYZ' is not in panel 'synth'"):
        await runner.run("prs_report", {"sample_id": "P1", "pgs_ids": ["PGS900001"], "superpopulation": "XYZ"})
    with pytest.raises(InputError, match="matches the trait 'unicorn horn length'"):
        await runner.run("prs_report", {"sample_id": "P1", "trait": "unicorn horn length"})
    with pytest.raises(InputError, match="no stored VCF or genotypes for sample 'P2'"):
        await runner.run("prs_report", {"sample_id": "P2", "pgs_ids": ["PGS900001"]})


async def test_reference_distributions_local_run_equals_engine(stored: Stored, tmp_path: Path) -> None:
    from prsgazer.engine.reference.distributions import read_distribution
    from prsgazer.engine.reference.panel import open_panel
    from prsgazer.engine.scoring.batch import batch_score
    from prsgazer.storage import default_store

    store = default_store()
    outcome = await runner.run("reference_distributions", {"panel": "synth"})  # every stored GRCh38 score
    out = outcome.outputs
    assert (out["n_total"], out["n_ok"], out["n_failed"], out["n_checks_failed"]) == (4, 4, 0, 0)
    panel = open_panel(stored.prefix)
    try:
        direct = batch_score(panel, [store.fetch(f.cid).path for f in stored.files], out_dir=tmp_path / "b")
        table = panel.sample_table
    finally:
        panel.close()
    for d in out["distributions"]:
        assert d["panel_cid"] == stored.panel.cid and d["checks_passed"] is True
        dist = read_distribution(store.fetch(d["cid"]).path)
        ref = direct.scores(d["pgs_id"]).join(table, on="sample_id")
        for g in GROUPS:
            x = ref if g == "ALL" else ref.filter(pl.col("superpopulation") == g)
            v = x["sum"].to_numpy()
            row = dist.row(g)
            assert row is not None and row["n"] == len(v)
            assert row["mean"] == pytest.approx(v.mean(), rel=1e-12)
            assert row["std"] == pytest.approx(v.std(ddof=1), rel=1e-9)
            assert row["p50"] == pytest.approx(np.quantile(v, 0.5), rel=1e-9, abs=1e-12)
        assert d["reference_scores_cid"] in json.dumps(store.lineage(d["cid"]), default=str)
    again = await runner.run("reference_distributions", {"panel": "synth", "pgs_ids": ["PGS900002"]})
    assert again.outputs["n_cached"] == 1 and again.outputs["n_ok"] == 1


async def test_percentile_falls_back_to_precomputed_distributions(stored: Stored) -> None:
    """Without a panel the stored distributions are used, labelled precomputed, with the gap stated."""
    from prsgazer.engine.reference.distributions import read_distribution
    from prsgazer.engine.reference.percentile import percentile_from_distribution
    from prsgazer.storage import default_store
    from prsgazer.tasks import normalize_genotypes, percentile, score

    store = default_store()
    dists = (await runner.run("reference_distributions", {"panel": "synth", "pgs_ids": ["PGS900003"]})).outputs
    dist_asset = store.get(dists["distributions"][0]["cid"])
    g = await normalize_genotypes(stored.vcf)
    sf = next(f for f in stored.files if f.pgs_id == "PGS900003")
    # without a panel, absent sites have no known REF: only the person's own sites match
    results = await score(g, [sf], min_overlap=0.2)
    assert results[0].status == "ok", results[0].reason
    pct = await percentile(g, [sf], results, distributions=[dist_asset], min_overlap=0.2)
    assert pct.method == "precomputed" and pct.superpopulations == GROUPS
    table = pl.read_csv(store.fetch(pct.cid).path, separator="\t", null_values="NA")
    data = read_distribution(store.fetch(dist_asset.cid).path)
    value = float(pl.read_csv(store.fetch(results[0].cid).path, separator="\t")["sum"][0])
    for row in table.iter_rows(named=True):
        want = percentile_from_distribution(value, data, row["superpopulation"])
        assert row["percentile_method"] == "precomputed" and row["percentile"] == pytest.approx(want.percentile)
        assert "precomputed distribution" in row["percentile_reason"]
    # no panel, no distribution: N/A with the reason, never 0
    none = await percentile(g, [sf], results, min_overlap=0.2)
    t = pl.read_csv(store.fetch(none.cid).path, separator="\t", null_values="NA")
    assert none.method == "n/a" and t["percentile"].is_null().all()
    assert t["percentile_reason"][0] == "no reference panel or precomputed distribution was given"


def test_demo_command_prints_the_report_then_hits_the_cache(capsys) -> None:
    from prsgazer.cli import main

    assert main(["demo"]) == 0
    first = capsys.readouterr()
    assert "PRS report for DEMO_PERSON" in first.out and "compared with EUR" in first.out
    for pgs in ("DEMO001", "DEMO002", "DEMO003", "DEMO004"):
        assert pgs in first.out
    assert "AFR" in first.out and "SAS" in first.out and "(computed)" in first.err
    assert "regenerated bytes differ" not in first.err  # the generator reproduces the manifest's CIDs
    assert main(["demo", "--json"]) == 0
    second = capsys.readouterr()
    doc = json.loads(second.out)
    assert "(cached)" in second.err and doc["n_ok"] == 4 and doc["superpopulation"] == "EUR"
    assert all(len(s["percentiles"]) == 6 for s in doc["scores"])


async def test_a_run_resumes_from_what_earlier_runs_stored(stored: Stored) -> None:
    """Steps stored by an earlier (e.g. killed) run are found again: only the missing ones run."""
    from prsgazer.config import get_settings
    from prsgazer.storage import default_store

    store = default_store()
    genotypes = (await runner.run("normalize_genotypes", {"vcf": stored.vcf.cid})).outputs
    first = (
        await runner.run(
            "score",
            {
                "genotypes": genotypes["cid"],
                "scoring_files": [stored.files[0].cid],
                "reference_panel": {"panel": "synth"},
            },
        )
    ).outputs
    assert first[0]["metrics"]["cached"] is False
    out = (await runner.run("prs_report", {"sample_id": "P1", "pgs_ids": ["PGS900001"], "panel": "synth"})).outputs
    report = store.get(out["cid"])
    assert report.prs_result_cids == [first[0]["cid"]] and report.metrics["cached"] is False
    # score ran once (the first call: the report found its result), the missing steps once each
    assert len(store.query(asset="prs_result")) == 1
    assert len(store.query(asset="percentiles")) == 1 and len(store.query(asset="prs_report")) == 1
    returned = {k: v for k, v in first[0]["metrics"].items() if k != "run"}  # outputs name the run that made them
    assert store.get(first[0]["cid"]).metrics == returned  # the stored record was not recomputed
    # scratch directories are removed once their outputs are stored
    runs = get_settings().cache_dir / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_flyte_cli_runs_prs_report_locally(stored: Stored, engine) -> None:
    """`flyte run --local src/prsgazer/workflows/report.py prs_report …` (Flyte's own CLI, a subprocess)
    stores the same report as the runner does."""
    import os
    import subprocess
    import sys

    from prsgazer.engine.interpret.report import Report
    from prsgazer.storage import default_store

    repo = Path(__file__).resolve().parents[2]
    flyte = Path(sys.executable).parent / "flyte"
    cmd = [str(flyte), "run", "--local", "src/prsgazer/workflows/report.py", "prs_report",
           "--sample_id", "P1", "--pgs_ids", '["PGS900002", "PGS900003"]', "--panel", "synth"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=repo, env={**os.environ, "DO_NOT_TRACK": "1"}, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = default_store()
    (report,) = store.query(asset="prs_report", sample_id="P1")
    shown = re.sub(r"\x1b\[[0-9;]*m|[\s│]", "", proc.stdout)  # the rich box printed by flyte, unwrapped
    assert report.cid in shown
    doc = Report.model_validate_json(Path(store.fetch(report.cid).path).read_text())
    run, pct = engine([f for f in stored.files if f.pgs_id in ("PGS900002", "PGS900003")])
    sums = {p: s for p, s in run.table.select("pgs_id", "sum").iter_rows()}
    assert {s.pgs_id: s.sum for s in doc.scores} == sums
    eur = pct.filter(pl.col("superpopulation") == doc.superpopulation)
    assert {s.pgs_id: s.percentile_in(doc.superpopulation).percentile for s in doc.scores} == dict(
        eur.select("pgs_id", "percentile").iter_rows()
    )


def test_prsgazer_run_prints_a_report_as_text(stored: Stored, capsys) -> None:
    from prsgazer.cli import main

    assert main(["run", "prs_report", "--sample-id", "P1", "--pgs-ids", "PGS900001,PGS900002", "--panel", "synth"]) == 0
    shown = capsys.readouterr()
    assert "PRS report for P1" in shown.out and "PGS900002" in shown.out and "What it means:" in shown.out
    assert "lineage: prsgazer storage lineage bafkrei" in shown.err
