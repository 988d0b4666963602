"""The MCP tools, as plain async functions (registered on the server by `prsgazer.server.app`).

See docs/mcp.md for every tool with an example call and result. Tools hold no domain logic: they
call the registry/runner, the store, bundles, the catalog and `engine.quality`, and return compact
pydantic models carrying CIDs. Blocking store and file work runs in a worker thread so the event
loop keeps serving (progress, cancellation, other clients).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from fastmcp import Context

from prsgazer.config import get_settings
from prsgazer.errors import InputError, NotFoundError
from prsgazer.server import safety
from prsgazer.server.models import (
    DeleteResult,
    DownloadResult,
    Explanation,
    FileRecord,
    PanelList,
    ParamInfo,
    QueryResult,
    RunResult,
    ScoreHitBrief,
    SearchResult,
    TaskInfo,
    TaskList,
    UploadResult,
)
from prsgazer.server.progress import Progress, with_progress

_CID_KEY = re.compile(r"(^|_)cids?$")


def _store():
    from prsgazer.storage import default_store

    return default_store()


# -- registry: tasks and workflows -------------------------------------------------------------
async def list_tasks(
    category: str | None = None, kind: Literal["task", "workflow"] | None = None
) -> TaskList:
    """List the tasks and workflows this server can run, with each parameter's name, type, default and meaning.

    Start here to learn what run_workflow / run_task accept. The main workflows: prs_report (one
    person's scores placed against a reference panel, with a plain-language reading) and
    cohort_scores (many samples, raw scores). A parameter with an `asset` type is bound from the
    store: give a CID, or a key/value filter object that matches exactly one stored asset (a list
    parameter takes every match). Returns {n_tasks, n_workflows, tasks: [{name, kind, category,
    summary, params: [{name, type, required, default, description, asset}], output}]}.

    Args:
        category: only this category (the module name, e.g. "report", "cohort", "score").
        kind: only tasks (single steps, run_task) or workflows (whole chains, run_workflow).
    """
    from prsgazer import registry

    if kind not in (None, "", "task", "workflow"):
        raise InputError(f"unknown kind {kind!r}", field="kind", hint="task or workflow")
    entries = await asyncio.to_thread(registry.entries)
    categories = sorted({e.category for e in entries.values()})
    if category and category not in categories:
        raise NotFoundError(f"no category {category!r}", field="category", hint=f"known: {', '.join(categories)}")
    chosen = [e for e in entries.values() if category in (None, "", e.category) and kind in (None, "", e.kind)]
    tasks = [
        TaskInfo(
            name=e.name,
            kind=e.kind,
            category=e.category,
            summary=e.summary,
            params=[ParamInfo(**p.as_dict()) for p in e.params],
            output=e.output,
        )
        for e in chosen
    ]
    return TaskList(
        n_tasks=sum(t.kind == "task" for t in tasks),
        n_workflows=sum(t.kind == "workflow" for t in tasks),
        tasks=tasks,
    )


def _collect_cids(obj: Any, out: list[str]) -> list[str]:
    """Every CID in a run's JSON outputs (fields named cid / *_cid / *_cids), in order, once each."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if _CID_KEY.search(str(k)):
                for c in v if isinstance(v, list) else [v]:
                    if isinstance(c, str) and c and c not in out:
                        out.append(c)
            else:
                _collect_cids(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect_cids(v, out)
    return out


async def _run(
    name: str, inputs: dict[str, Any], kind: str, ctx: Context | None, mode: Literal["local", "remote"] = "local"
) -> RunResult:
    from prsgazer import registry, runner

    entry = await asyncio.to_thread(registry.get, name)
    if entry.kind != kind:
        other = "run_workflow" if entry.kind == "workflow" else "run_task"
        raise InputError(f"{name} is a {entry.kind}, not a {kind}", field="name", hint=f"use {other}")
    progress = Progress(ctx)
    await progress.step(f"{name}: binding inputs")
    # binding reads (and re-hashes) stored assets: off the event loop; the run gets the bound values
    bound = await asyncio.to_thread(registry.bind, entry, inputs)
    await progress.step(f"{name}: started")
    outcome = await with_progress(progress, runner.run(name, bound, mode=mode), name)
    await progress.step(f"{name}: finished in {outcome.duration_s:.1f} s", final=True)
    outputs = _compact(outcome.outputs)
    return RunResult(
        name=outcome.name,
        kind=outcome.kind,
        mode=outcome.mode,
        duration_s=outcome.duration_s,
        outputs=outputs,
        cids=_collect_cids(outputs, []),
    )


def _compact(obj: Any) -> Any:
    """Outputs without cache bookkeeping (`task_key`)."""
    if isinstance(obj, dict):
        return {k: _compact(v) for k, v in obj.items() if k != "task_key"}
    if isinstance(obj, list):
        return [_compact(v) for v in obj]
    return obj


async def run_task(
    name: str,
    filters: dict[str, dict[str, Any] | str | list[dict[str, Any] | str]] | None = None,
    inputs: dict[str, Any] | None = None,
    ctx: Context | None = None,
) -> RunResult:
    """Run one task, a single step (see list_tasks, kind "task"), and return its outputs with their CIDs.

    Prefer run_workflow for whole jobs; tasks are for re-running one step. Asset parameters are bound
    from the store: `filters` maps a parameter name to key/value filters (e.g. {"genotypes":
    {"sample_id": "NA12878"}}) or a CID. A filter matching several assets is an error listing the
    candidates, never an arbitrary pick; for a list parameter every match is used. Returns {name,
    kind, mode, duration_s, outputs (the stored assets as JSON, each with its cid), cids (every CID in
    the outputs)}.

    Args:
        name: the task name, e.g. "score".
        filters: per asset parameter, a {key: value} filter object or a CID (a list of those for a list
            parameter).
        inputs: the other parameters (numbers, strings, lists); asset parameters may also be given here.
    """
    inputs = dict(inputs or {})
    for param, flt in (filters or {}).items():
        if param in inputs:
            raise InputError(f"{param} is given both in filters and in inputs", field=param, hint="give it once")
        if not isinstance(flt, (dict, str, list)):
            raise InputError("a filter is a {key: value} object, a CID, or a list of those", field=param)
        inputs[param] = flt
    return await _run(name, inputs, "task", ctx)


async def run_workflow(
    name: str, inputs: dict[str, Any] | None = None, remote: bool = False, ctx: Context | None = None
) -> RunResult:
    """Run a workflow (see list_tasks, kind "workflow"), locally or on the configured Flyte cluster;
    progress is reported while it runs.

    A person's report: name "prs_report", inputs {"vcf_cid": <cid from upload_file>, "pgs_ids":
    [<pgs_id from search_scores>, …], "panel": <name from list_panels>}; its outputs.cid is the report
    to pass to explain_result. Many samples: "cohort_scores" with {"vcf_cid" or "genotypes_cid",
    "pgs_ids"}. Returns {name, kind, mode, duration_s, outputs (stored assets as JSON, each with its
    cid), cids (every CID in the outputs)}. A run in which no score could be computed is an error
    giving each score's reason; scores that failed beside ones that worked are listed in the outputs.

    Args:
        name: the workflow name: "prs_report", "cohort_scores" or "reference_distributions" (list_tasks
            shows them all, with their parameters).
        inputs: its parameters by name, e.g. {"vcf_cid": "bafkrei…", "pgs_ids": ["PGS000001"], "panel":
            "demo_panel"}; CIDs of stored assets chain earlier results.
        remote: run on the Flyte cluster of .flyte/config.yaml (each task a pod sharing PRSGAZER_REMOTE);
            an error says what to configure when there is none.
    """
    return await _run(name, dict(inputs or {}), "workflow", ctx, mode="remote" if remote else "local")


# -- storage ------------------------------------------------------------------------------------
_VCF = re.compile(r"\.(g\.)?vcf(\.b?gz)?$", re.I)
_NOT_SETTABLE = ("task_key", "metrics", "params", "code_version")


async def upload_file(path: str, keyvalues: dict[str, Any] | None = None) -> UploadResult:
    """Store a file (a VCF/gVCF, a consumer array file, a scoring file, a plink2 .pgen, …) and return its CID.

    The file describes itself: its type, genome build, samples, record or variant count, and a scoring
    file's header (pgs_id, trait, build) are read and recorded; `detected` says what was found, in
    words. Use the returned file.cid in run_workflow (e.g. prs_report's vcf_cid) and the recorded
    fields (file.fields: genome_build, sample_id, …) to choose scores. Same bytes, same CID. Only
    regular files inside the allowed directories (see the prsgazer://config resource) and under the
    size limit are read; symlinks leading outside them are refused. Returns {file: {cid, asset,
    filename, size, created, fields}, source, already_stored, detected}.

    Args:
        path: the file, absolute or relative to the first allowed directory, e.g. "me.vcf.gz".
        keyvalues: optional; only to declare the type as "asset" (vcf, genotypes, scoring_file, reference_panel, …:
            detected when left out) or to add fields the file cannot tell, e.g. {"superpopulation": "EUR",
            "coverage": "wgs"}; a value contradicting the file (another build, another pgs_id) is refused.
    """
    from prsgazer.assets import asset_keys
    from prsgazer.ops.describe import store_file

    kv = dict(keyvalues or {})
    asset = kv.pop("asset", None)
    s = get_settings()

    def work() -> UploadResult:
        store = _store()
        # the path first (what the call is about), then the type, then the fields: the first thing to fix first
        with safety.open_for_upload(path, safety.allowed_dirs(s), s.mcp_max_upload_bytes) as f:
            from prsgazer.storage import cid_of_file

            if asset is not None and asset not in asset_keys():
                raise InputError(f"unknown asset type {asset!r}", field="asset",
                                 hint=f"allowed: {', '.join(asset_keys())}; or leave it out to detect it")  # fmt: skip
            for k in _NOT_SETTABLE:
                if k in kv:
                    raise InputError(f"'{k}' is set by tasks, not by uploads", field=k, hint="leave it out")
            existed = store.has(cid_of_file(f.path))
            # a plink .pgen is read by its real path (its .pvar/.psam lie beside it, inside the allowed dirs)
            source = f.real_path if f.name.lower().endswith(".pgen") else f.path
            stored, detected = store_file(store, source, asset, filename=f.name, **kv)
            size = int(store.record(stored.cid).get("size") or 0)
            if size > s.mcp_max_upload_bytes:  # grew while being read
                if not existed:
                    store.delete(stored.cid, force=True)
                raise InputError(f"{path} grew past the upload limit while being read", field="path")
            return UploadResult(file=FileRecord.of(store.get(stored.cid)), source=str(f.real_path),
                                already_stored=existed, detected=detected.notes)  # fmt: skip

    return await asyncio.to_thread(work)


async def query_files(keyvalues: dict[str, Any] | None = None, limit: int = 50) -> QueryResult:
    """List stored assets whose fields match every key/value (a list value means any of them).

    Finds what is already stored: a person's VCF ({"asset": "vcf"}), their reports ({"asset":
    "prs_report", "sample_id": …}), scoring files ({"asset": "scoring_file", "pgs_id": …}). Returns
    {n_total, truncated, files: [{cid, asset, filename, size, created, fields}]}. An unknown key is an
    error listing the allowed ones.

    Args:
        keyvalues: filters such as {"asset": "prs_result", "sample_id": "NA12878"}; empty lists everything.
            Asset types: vcf, genotypes, scoring_file, reference_panel, prs_result, prs_report, … (the
            prsgazer://config resource and list_tasks name them).
        limit: most records returned (the total is always given).
    """
    if limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}", field="limit")
    found = await asyncio.to_thread(lambda: _store().query(**(keyvalues or {})))
    return QueryResult(
        n_total=len(found), files=[FileRecord.of(a) for a in found[:limit]], truncated=len(found) > limit
    )


async def download_file(cid: str, dest_dir: str | None = None, companions: bool = True) -> DownloadResult:
    """Copy a stored asset's verified bytes (and companion files) out of the store; return where they are.

    Returns {cid, asset, path, size, companions: {field: path}}. The files are copies (never links to
    the stored bytes), so editing them cannot change the store. Without `dest_dir` they are placed under
    `<storage root>/exports/<cid>/`. A `dest_dir` must lie inside an allowed directory; an existing
    different file there is never overwritten.

    Args:
        cid: the asset's CID.
        dest_dir: optional directory inside an allowed directory to copy it to.
        companions: also place companion files (a panel's .pvar/.psam) beside it, with the same stem.
    """
    from prsgazer.assets import asset_class, asset_keys
    from prsgazer.storage import cid_of_file
    from prsgazer.storage.local import file_extension, file_stem

    s = get_settings()

    def work() -> DownloadResult:
        store = _store()
        rec = store.record(cid)
        key = rec.get("asset")
        cls = asset_class(key) if key in asset_keys() else None
        names = {cid: rec.get("filename") or cid + (cls.suffix if cls else "")}
        refs: dict[str, str] = {}
        if companions and cls is not None:
            for field in cls.companions:
                ref = rec.get(field)
                if ref:
                    crec = store.record(ref)
                    ext = file_extension(crec.get("filename") or "") or asset_class(crec["asset"]).suffix
                    names[ref] = f"{file_stem(names[cid])}{ext}"
                    refs[field] = ref
        for ref, name in names.items():
            if safety.safe_filename(name, "") != name:
                raise InputError(f"stored file name {name!r} of {ref} is not a plain file name", field="cid")
        base = None
        if dest_dir is not None:
            base = safety.resolve_inside(dest_dir, safety.allowed_dirs(s), what="dest_dir")
            if not base.is_dir():
                raise InputError(f"{dest_dir} is not a directory", field="dest_dir")
            for ref, name in names.items():
                target = base / name
                if target.is_symlink() or (target.exists() and not target.is_file()):
                    raise InputError(f"{target} exists and is not a regular file; not overwritten", field="dest_dir")
                if target.exists() and cid_of_file(target) != ref:
                    raise InputError(f"{target} exists with other content; not overwritten", field="dest_dir")
        got = store.export(cid, base, companions=companions)
        where = got.path.parent
        return DownloadResult(
            cid=cid,
            asset=str(key),
            path=str(got.path),
            size=int(rec.get("size") or 0),
            companions={field: str(where / names[ref]) for field, ref in refs.items()},
        )

    return await asyncio.to_thread(work)


async def delete_file(cid: str, force: bool = False) -> DeleteResult:
    """Delete a stored asset (record and bytes). Refused when another asset needs it as a companion.

    Returns {cid, asset, filename, deleted}.

    Args:
        cid: the asset's CID.
        force: delete even if another asset lists it as a companion file.
    """

    def work() -> DeleteResult:
        store = _store()
        rec = store.record(cid)
        deleted = store.delete(cid, force=force)
        return DeleteResult(cid=cid, asset=str(rec.get("asset")), filename=str(rec.get("filename") or ""),
                            deleted=deleted)  # fmt: skip

    return await asyncio.to_thread(work)


async def lineage(cid: str) -> dict[str, Any]:
    """What a stored asset was made from (parents, recursively, via its *_cid fields) and what was made from it.

    Returns {root: {cid, asset, via, missing, keyvalues, parents: [...]}, children: [...]}.

    Args:
        cid: the asset's CID.
    """
    lin = await asyncio.to_thread(lambda: _store().lineage(cid))
    return _lean_lineage(lin.model_dump(mode="json"))


def _lean_lineage(obj: Any) -> Any:
    """Lineage nodes without bookkeeping fields (task_key, metrics, match summary): the graph stays whole."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "keyvalues" and isinstance(v, dict):
                v = {kk: vv for kk, vv in v.items() if kk not in ("task_key", "metrics", "summary")}
            out[k] = _lean_lineage(v)
        return out
    if isinstance(obj, list):
        return [_lean_lineage(v) for v in obj]
    return obj


# -- bundles ------------------------------------------------------------------------------------
async def list_bundles() -> list[dict[str, Any]]:
    """List the named asset bundles (e.g. "demo": a synthetic panel, one synthetic person, scoring files).

    Returns [{name, description, assets: [{role, asset, cid}], generated}]; fetch_bundle makes one available.
    """
    from prsgazer.bundles import list_bundles as _list

    return [b.summary() for b in await asyncio.to_thread(_list)]


async def fetch_bundle(name: str, ctx: Context | None = None) -> dict[str, Any]:
    """Make a bundle's assets available in the store (already there, from the remote, or generated).

    Returns {name, source, seconds, notes, assets: {role: {cid, asset, …fields}}}, ready to pass to
    run_workflow: for "demo", the person's VCF (role "person", with its sample_id), the panel (role
    "panel", its name in field "panel") and scoring files (roles "score:<pgs_id>").

    Args:
        name: the bundle name (see list_bundles).
    """
    from prsgazer.bundles import fetch_bundle as _fetch
    from prsgazer.bundles import load_bundle

    await asyncio.to_thread(load_bundle, name)  # an unknown name fails at once, listing the known ones
    progress = Progress(ctx)
    await progress.step(f"bundle {name}: fetching")
    got = await with_progress(progress, asyncio.to_thread(_fetch, name), f"bundle {name}")
    await progress.step(f"bundle {name}: ready ({got.source})", final=True)
    return got.model_dump(mode="json")


# -- reference panels ---------------------------------------------------------------------------
async def list_panels() -> PanelList:
    """List the reference panels: what to pass as `panel` to run_workflow (prs_report, reference_distributions).

    A report places a person's score among reference people of each superpopulation; it needs a panel
    in the genome build of the person's data. Returns {panels: [{name, kind, build, samples, where,
    installed}], notes}: use the `name` of an installed panel (kind "installed" or "stored") of the
    VCF's build. A "known" panel that is not installed must first be downloaded from a shell.
    """
    from prsgazer.ops.panels import available_panels

    rows = await asyncio.to_thread(available_panels, _store())
    notes = []
    if not any(r.installed for r in rows):
        notes.append(
            "No panel is installed: fetch_bundle('demo') stores a synthetic demo panel (for the demo person and "
            "scores); real data needs a PGS Catalog reference pack (shell: `prsgazer reference download NAME`)."
        )
    return PanelList(panels=rows, notes=notes)


# -- catalog and interpretation -----------------------------------------------------------------
async def search_scores(
    text: str,
    build: Literal["GRCh37", "GRCh38"] | None = None,
    ancestry: str | None = None,
    limit: int = 10,
    ctx: Context | None = None,
) -> SearchResult:
    """Find PGS Catalog scores for a trait, disease, score id or publication, best first.

    Searches the stored catalog metadata (downloaded once on first use, then offline); ranking favours
    relevance, then scores with a good evaluation. Returns {query, catalog_release, n, hits: [{pgs_id,
    name, trait, trait_efo, n_variants, builds, quality, evaluated_in, evaluation_n, publication}],
    notes}: pass the chosen hits' pgs_id to run_workflow (prs_report's pgs_ids); score_info gives one
    score's details.

    Args:
        text: words, e.g. "type 2 diabetes", "EFO_0001360", "PGS000001", "Mavaddat".
        build: only scores with a file in this build: the genome_build upload_file recorded for the VCF.
        ancestry: only scores developed or evaluated in this group: EUR, AFR, EAS, SAS, AMR (or a catalog
            label such as "European").
        limit: most hits returned.
    """
    from prsgazer.catalog import load_metadata, pull_metadata
    from prsgazer.catalog import search_scores as _search
    from prsgazer.catalog.metadata import local_release

    if not text or not text.strip():
        raise InputError("empty search text", field="text", hint='e.g. "breast cancer" or "PGS000001"')
    if limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}", field="limit")
    notes = []
    store = _store()
    if await asyncio.to_thread(local_release, store) is None:
        progress = Progress(ctx)
        await progress.step("downloading PGS Catalog metadata (first search only)")
        pulled = await with_progress(progress, pull_metadata(store=store), "catalog metadata")
        notes.append(f"PGS Catalog metadata release {pulled.release} was downloaded and stored for offline search.")
    tables = await asyncio.to_thread(load_metadata, store)
    hits = await asyncio.to_thread(_search, tables, text, build=build, ancestry=ancestry, limit=limit)
    brief = [
        ScoreHitBrief(
            pgs_id=h.pgs_id,
            name=h.pgs_name,
            trait=h.trait_reported,
            trait_efo=[f"{i} {lbl}" for i, lbl in zip(h.trait_efo_ids, h.trait_efo_labels, strict=False)],
            n_variants=h.n_variants,
            builds=h.builds_available,
            quality=f"{h.quality_metric} {h.quality_value:.3f} ({h.quality_label})"
            if h.quality_value is not None
            else None,
            evaluated_in=h.evaluation_ancestry,
            evaluation_n=h.evaluation_n,
            publication=" ".join(str(x) for x in (h.first_author, h.year, h.journal) if x) or h.pgp_id,
        )
        for h in hits
    ]
    if not brief:
        notes.append("No score matched every word; try fewer or broader words, or an EFO id.")
    return SearchResult(query=text, catalog_release=tables.release, n=len(brief), hits=brief, notes=notes)


async def score_info(pgs_id: str, ancestry: str = "European", max_evaluations: int = 10) -> dict[str, Any]:
    """A score's PGS Catalog record: trait, variants, files, publication and evaluations with quality labels.

    Asks the PGS Catalog, or the stored metadata when the catalog cannot be reached (said in the
    result). Returns {pgs_id, name, trait_reported, trait_efo, variants_number, publication, files
    (per build), ancestry_distribution, best (the evaluation that fits the ancestry best, with its
    quality label and effect sizes), n_evaluations, evaluations}.

    Args:
        pgs_id: e.g. "PGS000001".
        ancestry: the group evaluations are matched against (the best evaluation prefers it): a catalog
            label ("European", "East Asian", …) or a code (EUR, AFR, EAS, SAS, AMR).
        max_evaluations: most evaluations listed (the best first; the total is given).
    """
    from prsgazer.catalog.info import score_info as _info

    info = await _info(pgs_id, ancestry=ancestry, store=_store())
    evals = sorted(
        info.evaluations, key=lambda e: (not e.ancestry_matched, e.quality is None, -e.n_individuals, e.ppm_id)
    )
    out = info.model_dump(mode="json", exclude={"evaluations"})
    out["n_evaluations"] = len(evals)
    out["evaluations"] = [e.model_dump(mode="json") for e in evals[: max(0, max_evaluations)]]
    return out


async def explain_result(cid: str, superpopulation: str | None = None) -> Explanation:
    """Explain a stored PrsResult or PrsReport in plain language, with its caveats.

    Covers where the score places the person, how many of its variants were found (coverage), whether
    the score was evaluated in people of the person's ancestry, how well it predicted in its evaluation,
    and that it is not a diagnosis (or, for a quantity such as height, not a measurement). Returns
    {cid, asset, sample_id, superpopulation, scores: [{pgs_id, trait, trait_kind, percentile, z,
    reference_group, percentiles, coverage, quality, reliability, headline, details, caveats}], notes,
    related_cids, text}: `text` is the whole reading, ready to relay.

    Args:
        cid: CID of a prs_result or prs_report (run_workflow's outputs.cid, or query_files).
        superpopulation: read against this ancestry group instead (EUR, AFR, EAS, SAS, AMR, any case);
            default: the group stored with the report or the VCF.
    """
    from prsgazer.server.explain import explain

    return await asyncio.to_thread(explain, _store(), cid, superpopulation=superpopulation)
