"""Wall time of `prs_report` with N independent scores, through Flyte locally: the first run, a rerun
(Flyte's task cache), a rerun with Flyte's cache off (the store's result keys only). See docs/cluster.md.

    uv run python bench/bench_workflows.py --prepare DIR            # the inputs, made once (current code)
    uv run python bench/bench_workflows.py --run DIR --n 1 10 40    # the timings, printed as JSON lines

`--run` only uses APIs that older checkouts have too (store puts, `runner.run`), so the same script
measures another checkout: `cd <old worktree> && uv run python <this file> --run DIR …` (e.g. the
commit before the tasks ran their store calls off the event loop, to measure the concurrency gain).

Workload: a simulated panel (5 superpopulations, msprime; 1,000 samples × 30,000 variants by default),
one held-out person's whole-genome VCF, N scoring files of 2,000 variants drawn from the panel. Each
`--run` uses a fresh store and cache in a temp dir; `ancestry` is off when the workflow has it (older
checkouts have no ancestry step), and measured separately as `with_ancestry`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def prepare(d: Path, samples: int, variants: int, n_max: int) -> None:
    import polars as pl

    from prsgazer.synthetic.simulate import read_simulated_pvar, synthesize_panel, write_person_vcf, write_scorefile

    d.mkdir(parents=True, exist_ok=True)
    info = synthesize_panel(d / "panel", samples, variants, seed=11, genome_build="GRCh38", n_holdout=2)
    hold = pl.read_csv(f"{info.holdout_prefix}.psam", separator="\t")
    write_person_vcf(info.holdout_prefix, d / "person.vcf.gz", sample_index=0, sample_id="P1", genome_build="GRCh38")
    pvar = read_simulated_pvar(info.prefix)
    plain = pvar.filter(~pl.concat_str("REF", "ALT").is_in(["AT", "TA", "CG", "GC"]))
    for i in range(n_max):
        write_scorefile(plain, d / f"PGS8{i:05d}.txt", pgs_id=f"PGS8{i:05d}", n_variants=2000, seed=100 + i,
                        genome_build="GRCh38")  # fmt: skip
    meta = {"prefix": str(info.prefix), "samples": info.n_samples, "superpopulations": sorted(info.superpopulations),
            "person_pop": hold["SuperPop"][0], "n_max": n_max}  # fmt: skip
    (d / "inputs.json").write_text(json.dumps(meta))
    print(json.dumps({"prepared": str(d), **meta}))


async def _timed(name: str, inputs: dict, *, no_flyte_cache: bool = False) -> float:
    import flyte

    from prsgazer import registry, runner

    t0 = time.perf_counter()
    if no_flyte_cache:
        entry = registry.get(name)
        await runner.init_flyte("local")
        kwargs = registry.bind(entry, inputs)
        await flyte.with_runcontext(mode="local", disable_run_cache=True).run.aio(entry.task, **kwargs)
    else:
        await runner.run(name, inputs)
    return time.perf_counter() - t0


def run(d: Path, n: int) -> dict:
    meta = json.loads((d / "inputs.json").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-workflows-") as tmp:
        os.environ["PRSGAZER_HOME"] = f"{tmp}/home"
        os.environ["PRSGAZER_CACHE_DIR"] = f"{tmp}/cache"
        from prsgazer import registry
        from prsgazer.assets import Vcf
        from prsgazer.config import get_settings
        from prsgazer.storage import default_store
        from prsgazer.storage.plink import put_pfile

        get_settings.cache_clear()
        store = default_store()
        put_pfile(store, meta["prefix"], "reference_panel", panel="benchpanel", genome_build="GRCh38",
                  n_samples=meta["samples"], superpopulations=meta["superpopulations"])  # fmt: skip
        store.upload(Vcf(path=d / "person.vcf.gz", sample_id="P1", genome_build="GRCh38", coverage="wgs",
                         superpopulation=meta["person_pop"]))  # fmt: skip
        ids = [f"PGS8{i:05d}" for i in range(n)]
        for p in ids:
            store.put(d / f"{p}.txt", "scoring_file", pgs_id=p, genome_build="GRCh38")
        params = {p.name for p in registry.get("prs_report").params}
        inputs = {"sample_id": "P1", "pgs_ids": ids, "panel": "benchpanel"}
        if "ancestry" in params:
            inputs["ancestry"] = False
        out = {"n_scores": n, "load_before": os.getloadavg()[0]}
        out["first_s"] = asyncio.run(_timed("prs_report", inputs))
        out["rerun_s"] = asyncio.run(_timed("prs_report", inputs))
        out["rerun_store_only_s"] = asyncio.run(_timed("prs_report", inputs, no_flyte_cache=True))
        if "ancestry" in params:
            out["with_ancestry_first_s"] = asyncio.run(_timed("prs_report", {**inputs, "ancestry": True}))
        out["load_after"] = os.getloadavg()[0]
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepare", type=Path)
    ap.add_argument("--run", type=Path)
    ap.add_argument("--n", type=int, nargs="+", default=[1, 10, 40])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--variants", type=int, default=30000)
    a = ap.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if a.prepare:
        prepare(a.prepare, a.samples, a.variants, max(a.n))
    if a.run:
        import prsgazer

        for n in a.n:
            print(json.dumps({"code": str(Path(prsgazer.__file__).parents[2]), **run(a.run, n)}), flush=True)
    if not (a.prepare or a.run):
        ap.print_help(sys.stderr)


if __name__ == "__main__":
    main()
