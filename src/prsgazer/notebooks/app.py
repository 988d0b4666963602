"""prsgazer's notebook app (marimo): bring a genome, choose scores, run the report, see where you stand.

Served by `prsgazer notebook` (`marimo run`, read-only app); `python src/prsgazer/notebooks/app.py`
runs it as a script on the embedded demo data (`--out DIR` writes the TSV, HTML and a JSON summary).
A front door only: genotypes are stored and described by `prsgazer.ops`, the report is the
`prs_report` workflow (the cohort view `cohort_scores` + the `percentile` task) launched through
`prsgazer.runner`, tables and reference samples come from `prsgazer.ops.views`, plots and the HTML
from `prsgazer.notebooks.figures` / `.export`. See docs/notebook.md.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="prsgazer")


@app.cell
def _():
    import asyncio
    import json
    import os
    import time
    from pathlib import Path

    import marimo as mo

    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prsgazer import fileio, runner
    from prsgazer.assets import Genotypes, Percentiles, PrsReport, ReferencePanel, Vcf
    from prsgazer.bundles import fetch_bundle, load_bundle
    from prsgazer.engine.interpret.report import Report
    from prsgazer.errors import PrsgazerError
    from prsgazer.notebooks import export, figures
    from prsgazer.ops import views
    from prsgazer.ops.genotypes import genotypes_in_zip, ingest_genotypes, normalize_stored
    from prsgazer.ops.params import ScoreParams, Tuning
    from prsgazer.ops.runtime import scratch
    from prsgazer.ops.scorefiles import ingest_scorefile, score_candidates
    from prsgazer.storage import default_store

    store = default_store()
    tuning = Tuning.from_settings()
    script = not mo.running_in_notebook()
    # `python app.py -- --genotypes CID --scores ID,ID --panel CID --sample S`: start from these
    # (stored) inputs instead of the demo; the served app takes them after `--` too.
    _args = mo.cli_args()
    given = {k: str(_args.get(k) or "") for k in ("genotypes", "scores", "panel", "sample")}
    return (
        Genotypes,
        Path,
        Percentiles,
        PrsReport,
        PrsgazerError,
        ReferencePanel,
        Report,
        ScoreParams,
        Vcf,
        asyncio,
        export,
        fetch_bundle,
        fileio,
        given,
        figures,
        genotypes_in_zip,
        ingest_genotypes,
        ingest_scorefile,
        json,
        load_bundle,
        mo,
        normalize_stored,
        runner,
        score_candidates,
        scratch,
        script,
        store,
        time,
        tuning,
        views,
    )


@app.cell
def _(mo):
    mo.md(
        """
        # prsgazer: where do you stand?
        Bring a genome, choose polygenic scores, and see where the person falls among reference people
        of each ancestry group. Scores are computed exactly as plink2 `--score` and the PGS Catalog
        calculator do; every result is stored with its lineage. *A polygenic score is a relative
        position among reference people, not a diagnosis or an absolute risk.*
        """
    )
    return


@app.cell
def _(given, mo, store):
    _stored = [*store.query(asset="vcf"), *store.query(asset="genotypes")]
    _stored_options = {
        f"{a.sample_id or a.filename} · {a.asset_key} · {a.genome_build or 'build?'} · {a.cid[-10:]}": a.cid
        for a in _stored
    }
    source = mo.ui.radio(
        options={"the demo person (synthetic)": "demo", "upload a file": "upload", "stored genotypes": "stored"},
        value="stored genotypes" if given["genotypes"] else "the demo person (synthetic)",
        label="**1. Genome**",
        inline=True,
    )
    upload = mo.ui.file(
        filetypes=[".vcf", ".gz", ".bgz", ".gvcf", ".zip"],
        kind="area",
        label="A VCF or gVCF (.vcf, .vcf.gz), or a .zip of a plink2 fileset (.pgen/.pvar/.psam)",
        max_size=4 * 1024**3,
    )
    coverage_choice = mo.ui.dropdown(
        options={
            "as detected": "",
            "a whole genome (variant sites only)": "wgs",
            "an exome": "wes",
            "a genotyping array": "array",
        },
        value="as detected",
        label="The file covers",
    )
    stored_pick = mo.ui.dropdown(
        options=_stored_options,
        value=next((k for k, v in _stored_options.items() if v == given["genotypes"]), None),
        label="Stored genotypes",
    )
    return coverage_choice, source, stored_pick, upload


@app.cell
def _(coverage_choice, mo, source, stored_pick, upload):
    _extra = {
        "demo": mo.md(
            "The demo person is synthetic, as are the demo panel and scores (generated on first use, ~10 s)."
        ),
        "upload": mo.hstack([upload, coverage_choice], justify="start"),
        "stored": stored_pick
        if stored_pick.options
        else mo.md("Nothing is stored yet: upload a file or use the demo."),
    }[source.value]
    mo.vstack([source, _extra])
    return


@app.cell
async def _(
    Genotypes,
    Path,
    PrsgazerError,
    ScoreParams,
    Vcf,
    asyncio,
    coverage_choice,
    fetch_bundle,
    fileio,
    genotypes_in_zip,
    ingest_genotypes,
    load_bundle,
    mo,
    normalize_stored,
    scratch,
    source,
    store,
    stored_pick,
    tuning,
    upload,
    views,
):
    demo = None
    genotypes = None
    _params = ScoreParams()
    try:
        if source.value == "demo":
            with mo.status.spinner(title="Fetching the demo data (generated and stored on first use)…"):
                demo = await asyncio.to_thread(fetch_bundle, "demo", store)
            _vcf = store.get(demo.cid("person"))
            genotypes = await asyncio.to_thread(normalize_stored, store, _vcf, _params)
        elif source.value == "upload":
            mo.stop(not upload.value, mo.md("Drop a genome file above."))
            _file = upload.value[0]
            with scratch("upload", tuning.cache_dir) as _d:
                _path = Path(_d) / Path(_file.name).name
                fileio.write_bytes(_path, _file.contents, durable=False)
                if _path.name.lower().endswith(".zip"):
                    _path = genotypes_in_zip(_path, Path(_d) / "unpacked")
                with mo.status.spinner(title=f"Storing and reading {_file.name}…"):
                    genotypes = await asyncio.to_thread(
                        ingest_genotypes, store, _path, _params, coverage=coverage_choice.value
                    )
        else:
            mo.stop(not stored_pick.value, mo.md("Pick stored genotypes above."))
            _asset = store.get(stored_pick.value)
            genotypes = (
                await asyncio.to_thread(normalize_stored, store, _asset, _params)
                if isinstance(_asset, Vcf)
                else _asset
            )
        assert isinstance(genotypes, Genotypes)
        genome = await asyncio.to_thread(views.describe_genotypes, store, genotypes, tuning=tuning)
    except PrsgazerError as _exc:
        mo.stop(True, mo.callout(mo.md(f"**The genome could not be read.** {_exc}"), kind="danger"))
    demo_ids = [s["pgs_id"] for s in load_bundle("demo").generator["scores"]] if demo is not None else []
    return demo, demo_ids, genome, genotypes


@app.cell
def _(export, genome, mo):
    _html = f"<style>{export.TABLE_CSS}</style>{export.genome_html(genome)}"
    mo.vstack([mo.md("**What was detected**"), mo.Html(_html)])
    return


@app.cell
def _(genome, given, mo):
    _options = {"every sample (cohort view)": ""} | {s: s for s in genome.samples}
    sample_pick = mo.ui.dropdown(
        options=_options,
        value=given["sample"] if given["sample"] in genome.samples else (
            genome.samples[0] if genome.n_samples == 1 else "every sample (cohort view)"),
        label="Score",
    )
    sample_pick if genome.n_samples > 1 else None
    return (sample_pick,)


@app.cell
def _(mo):
    query = mo.ui.text(
        placeholder="e.g. type 2 diabetes, EFO_0001645, PGS000018",
        label="**2. Scores** search by trait or ID",
        full_width=True,
    )
    local_scores = mo.ui.file(
        filetypes=[".txt", ".gz", ".tsv"], multiple=True, label="Local scoring files (PGS Catalog format)"
    )
    demo_scores_button = mo.ui.run_button(label="Use the demo scores", kind="neutral")
    return demo_scores_button, local_scores, query


@app.cell
async def _(Path, PrsgazerError, asyncio, fileio, ingest_scorefile, local_scores, mo, scratch, store, tuning):
    local_ids = []
    _errors = []
    for _f in local_scores.value:
        try:
            with scratch("upload", tuning.cache_dir) as _d:
                _p = Path(_d) / Path(_f.name).name
                fileio.write_bytes(_p, _f.contents, durable=False)
                _sf = await asyncio.to_thread(ingest_scorefile, store, _p)
            local_ids.append(_sf.pgs_id)
        except PrsgazerError as _exc:
            _errors.append(f"{_f.name}: {_exc}")
    mo.callout(mo.md("\n\n".join(_errors)), kind="danger") if _errors else None
    return (local_ids,)


@app.cell
async def _(asyncio, demo_scores_button, fetch_bundle, mo, store):
    demo_scores_fetched = False
    if demo_scores_button.value:
        with mo.status.spinner(title="Fetching the demo scores…"):
            await asyncio.to_thread(fetch_bundle, "demo", store)
        demo_scores_fetched = True
    return (demo_scores_fetched,)


@app.cell
def _(demo_ids, demo_scores_fetched, genome, given, load_bundle, local_ids, mo, query, score_candidates, store):
    candidates = score_candidates(store, query.value, build=genome.genome_build)
    _wanted = set(local_ids) | set(demo_ids) | {p for p in given["scores"].split(",") if p}
    if demo_scores_fetched:
        _wanted |= {s["pgs_id"] for s in load_bundle("demo").generator["scores"]}
    _rows = [
        {
            "score": c.pgs_id,
            "trait": c.trait,
            "variants": c.n_variants,
            "quality": c.quality or "not evaluated",
            "best performance": c.performance or "N/A",
            "evaluated in": c.evaluation_ancestry or "not reported",
            "source": "stored" if c.stored else "catalog (downloaded on run)",
        }
        for c in candidates.candidates
    ]
    candidate_table = mo.ui.table(
        _rows,
        selection="multi",
        initial_selection=[i for i, c in enumerate(candidates.candidates) if c.pgs_id in _wanted],
        page_size=10,
        label="Select the scores to run",
        show_download=False,
    )
    return candidate_table, candidates


@app.cell
def _(candidate_table, candidates, demo_scores_button, local_scores, mo, query):
    _notes = [mo.callout(mo.md(n), kind="warn") for n in candidates.notes]
    _offer = mo.hstack([local_scores, demo_scores_button], justify="start")
    _release = (
        f"PGS Catalog metadata release {candidates.catalog_release} (stored, searched offline)."
        if candidates.catalog_release
        else ""
    )
    mo.vstack([query, *_notes, _offer, candidate_table, mo.md(_release)])
    return


@app.cell
def _(ReferencePanel, demo, genome, given, mo, store):
    _panels = [
        p
        for p in store.query(asset="reference_panel")
        if isinstance(p, ReferencePanel) and p.genome_build in ("", genome.genome_build)
    ]
    _options = {f"{p.panel} ({p.genome_build}, {p.n_samples} people) · {p.cid[-10:]}": p.cid for p in _panels}
    _options = {"no panel (precomputed distributions, if stored)": ""} | _options
    _want = given["panel"] or (demo.cid("panel") if demo is not None else "")
    _default = next((k for k, v in _options.items() if _want and v == _want), None)
    if _default is None and len(_options) == 2:
        _default = list(_options)[1]
    panel_pick = mo.ui.dropdown(
        options=_options, value=_default or next(iter(_options)), label="Reference panel"
    )
    superpopulation_pick = mo.ui.dropdown(
        options={"inferred on the panel (else recorded with the VCF, else ALL)": "", "AFR": "AFR", "AMR": "AMR",
                 "EAS": "EAS", "EUR": "EUR", "SAS": "SAS"},
        value="inferred on the panel (else recorded with the VCF, else ALL)",
        label="Compare with",
    )  # fmt: skip
    run_button = mo.ui.run_button(label="Run the report", kind="success")
    mo.vstack([mo.md("**3. Run**"), mo.hstack([panel_pick, superpopulation_pick, run_button], justify="start")])
    return panel_pick, run_button, superpopulation_pick


@app.cell
async def _(
    Path,
    PrsReport,
    PrsgazerError,
    Report,
    asyncio,
    candidate_table,
    genome,
    genotypes,
    mo,
    panel_pick,
    run_button,
    runner,
    sample_pick,
    script,
    store,
    superpopulation_pick,
    time,
    tuning,
    views,
):
    mo.stop(not (run_button.value or script), mo.md("Choose the genome and scores, then press **Run the report**."))
    pgs_ids = [r["score"] for r in candidate_table.value]
    mo.stop(not pgs_ids, mo.callout(mo.md("Select at least one score in the table above."), kind="warn"))
    cohort = genome.n_samples > 1 and not sample_pick.value
    outcome = None
    _steps = ["cohort_scores", "percentile"] if cohort else ["prs_report"]
    _t0 = time.perf_counter()

    async def _launch(name, inputs, bar):  # a run, with the elapsed time shown while it goes
        _task = asyncio.ensure_future(runner.run(name, inputs))
        while not _task.done():
            await asyncio.wait({_task}, timeout=0.5)
            bar.update(increment=0, subtitle=f"{name}: running, {time.perf_counter() - _t0:.1f} s")
        return _task.result()

    try:
        with mo.status.progress_bar(
            total=len(_steps) + 2, title="Running", subtitle=" → ".join(_steps), show_eta=False, show_rate=False,
            remove_on_exit=True,
        ) as _bar:  # fmt: skip
            if cohort:
                _scores = await _launch(
                    "cohort_scores", {"genotypes_cid": genotypes.cid, "pgs_ids": pgs_ids}, _bar
                )
                _bar.update(subtitle="percentile: placing every sample among reference people")
                _ok = [r for r in _scores.outputs["results"] if r.get("status") == "ok"]
                _why_not = "; ".join(f"{f['pgs_id']} ({f['step']}): {f['error']}" for f in _scores.outputs["failures"])
                mo.stop(not _ok, mo.callout(mo.md(f"No score could be computed: {_why_not}"), kind="danger"))
                _inputs = {
                    "genotypes": genotypes.cid,
                    "scoring_files": list(dict.fromkeys(r["scoring_file_cid"] for r in _ok)),
                    "results": [r["cid"] for r in _ok],
                }
                if panel_pick.value:
                    _inputs["reference_panel"] = panel_pick.value
                outcome = await _launch("percentile", _inputs, _bar)
                percentiles = store.get(outcome.outputs["cid"])
                cached = bool(_scores.outputs["n_cached"] == len(_ok)) and bool(
                    outcome.outputs.get("metrics", {}).get("cached")
                )
                report, report_cid = None, ""
                failures = _scores.outputs["failures"]
            else:
                _inputs = {
                    "genotypes_cid": genotypes.cid,
                    "sample_id": sample_pick.value or (genome.samples[0] if genome.samples else ""),
                    "pgs_ids": pgs_ids,
                    "panel": panel_pick.value,
                    "superpopulation": superpopulation_pick.value,
                }
                outcome = await _launch("prs_report", _inputs, _bar)
                report_cid = outcome.outputs["cid"]
                cached = bool(outcome.outputs.get("metrics", {}).get("cached"))
                _bar.update(subtitle="reading the report")
                _asset = store.get(report_cid)
                assert isinstance(_asset, PrsReport)
                report = Report.model_validate_json(Path(store.fetch(report_cid).path).read_text())
                percentiles = store.get(_asset.percentiles_cid) if _asset.percentiles_cid else None
                failures = []
            _bar.update(subtitle="reference distributions for the plots")
            reference = (
                await asyncio.to_thread(views.reference_samples, store, percentiles, tuning=tuning)
                if percentiles is not None
                else None
            )
            _bar.update(subtitle="done")
    except PrsgazerError as _exc:
        mo.stop(True, mo.callout(mo.md(f"**The run failed.** {_exc}"), kind="danger"))
    seconds = time.perf_counter() - _t0
    return cached, cohort, failures, percentiles, pgs_ids, reference, report, report_cid, seconds


@app.cell
def _(cohort, figures, percentiles, reference, report, store, tuning, views):
    plots = {}
    ancestry = None if cohort else views.ancestry_view(store, report)
    ancestry_plot = None
    if ancestry is not None:
        _key = {"pca": ancestry.ancestry_cid, "sample_id": ancestry.sample_id}
        ancestry_plot = figures.cached_svg(tuning.cache_dir, _key, lambda: figures.pca_svg(ancestry))
    if cohort:
        table = views.cohort_table(store, percentiles)
        for _p in dict.fromkeys(table["pgs_id"].to_list()) if reference is not None else []:
            plots[_p] = figures.cached_svg(
                tuning.cache_dir, {"cohort": percentiles.cid, "pgs_id": _p},
                lambda _p=_p: figures.cohort_svg(reference, _p, title=_p),
            )  # fmt: skip
    else:
        table = views.report_table(report)
        _group = report.superpopulation or "ALL"
        for _s in report.scores if reference is not None else []:
            if _s.status != "ok":
                continue
            _e = _s.percentile_in(_group)
            _args = {
                "sample_id": report.sample_id, "title": f"{_s.pgs_id} · {_s.trait or _s.pgs_name}",
                "compared_with": _group, "percentile": _e.percentile if _e is not None else None,
            }  # fmt: skip
            plots[_s.pgs_id] = figures.cached_svg(
                tuning.cache_dir, {"distribution": percentiles.cid, "pgs_id": _s.pgs_id, **_args},
                lambda _s=_s, _args=_args: figures.distribution_svg(reference, _s.pgs_id, **_args),
            )  # fmt: skip
    plots = {k: v for k, v in plots.items() if v}
    return ancestry, ancestry_plot, plots, table


@app.cell
def _(ancestry, ancestry_plot, cached, cohort, export, failures, mo, plots, reference, report, seconds, table):
    _how = "served from the store (cached)" if cached else "computed and stored"
    _status = mo.callout(
        mo.md(f"**Results in {seconds:.1f} s, {_how}.**"), kind="success" if cached else "info"
    )
    if cohort:
        _n = table["sample_id"].n_unique()
        _head = mo.md(f"**4. Results: a cohort of {_n} samples**, one row per sample and score")
        _table = mo.Html(f"<style>{export.TABLE_CSS}</style>{export.cohort_html(table)}")
        _fails = [f"{f['pgs_id']} ({f['step']}): {f['error']}" for f in failures]
    else:
        _head = mo.md(
            f"**4. Results for {report.sample_id}**, compared with {report.superpopulation or 'ALL'} "
            f"({report.superpopulation_source or 'n/a'}); reference panel {report.panel or 'none'}"
        )
        _table = mo.Html(f"<style>{export.TABLE_CSS}</style>{export.results_html(table)}")
        _fails = []
    if reference is not None and reference.method == "n/a":
        _why = mo.md(f"*No plot: {reference.reason}.*")
    elif not plots:
        _why = mo.md("*No reference distribution to plot.*")
    elif reference.method == "same_variants":
        _why = mo.md("Reference distribution per superpopulation: the panel re-scored on exactly the variants "
                     "matched for the person; the dashed line is the person's score.")  # fmt: skip
    else:
        _why = mo.md(f"Reference distribution per superpopulation ({reference.reason}).")
    _plots = [mo.Html(f'<figure class="prs-plot" data-pgs-id="{k}">{v}</figure>') for k, v in plots.items()]
    mo.vstack(
        [
            _status,
            _head,
            _table,
            *(mo.callout(mo.md(f), kind="warn") for f in _fails),
            _why,
            *_plots,
            *([] if cohort else [mo.Html(export.ancestry_html(ancestry, ancestry_plot, report))]),
        ]
    )
    return


@app.cell
def _(ancestry, ancestry_plot, cohort, export, genome, mo, percentiles, plots, report, report_cid, store, table):
    root_cid = report_cid or percentiles.cid
    lineage = export.lineage_lines(store.lineage(root_cid).root)
    tsv = table.write_csv(separator="\t", null_value="NA")
    html = export.report_html(
        None if cohort else report, table, plots, genome=genome, root_cid=root_cid, lineage=lineage,
        ancestry="" if cohort else export.ancestry_html(ancestry, ancestry_plot, report),
    )  # fmt: skip
    download_name = f"cohort-{genome.cid[-8:]}" if cohort else f"{report.sample_id or 'sample'}.prs_report"
    mo.vstack(
        [
            mo.md("**5. Out**"),
            mo.hstack(
                [
                    mo.download(tsv.encode(), filename=f"{download_name}.tsv", mimetype="text/tab-separated-values",
                                label="Download TSV"),
                    mo.download(html.encode(), filename=f"{download_name}.html", mimetype="text/html",
                                label="Download the HTML report"),
                ],
                justify="start",
            ),
            mo.md(f"Result CID `{root_cid}`; its lineage (also `prsgazer storage lineage {root_cid}`):"),
            mo.Html(export.lineage_html(lineage)),
        ]
    )  # fmt: skip
    return download_name, html, lineage, root_cid, tsv


@app.cell
def _(Path, cached, download_name, fileio, html, json, mo, pgs_ids, root_cid, script, seconds, tsv):
    # Script runs (`python app.py [--out DIR]`) print the table and write what a person would download.
    if script:
        print(tsv, end="")
        _out = mo.cli_args().get("out")
        if _out:
            _d = Path(str(_out))
            fileio.write_text(_d / f"{download_name}.tsv", tsv)
            fileio.write_text(_d / f"{download_name}.html", html)
            fileio.write_text(
                _d / "run.json",
                json.dumps({"cid": root_cid, "cached": cached, "seconds": seconds, "pgs_ids": pgs_ids,
                            "tsv": f"{download_name}.tsv", "html": f"{download_name}.html"}, indent=1),
            )  # fmt: skip
    return


if __name__ == "__main__":
    app.run()
