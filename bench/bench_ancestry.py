"""Ancestry benchmark (issue 18). Run: `uv run python bench/bench_ancestry.py`.

Workload: a simulated panel of 3,202 samples × 100,000 variants (5 superpopulations, msprime, GRCh38)
with 20 held-out people simulated alongside it. Data lives under `$PRSGAZER_CACHE_DIR/bench/`, else
`<user cache>/prsgazer/bench/` (never in the repository), and is reused.

Measured, each in a fresh subprocess (wall time and its own peak RSS from /usr/bin/time -v), with the
1-minute load average before and after (the machine may be shared) and the child's CPU time:
1. the reference PCA (`reference_pca`: QC, LD pruning, Gram matrix, eigendecomposition, loadings;
   the panel's samples are unrelated, so an empty exclusion list is passed) and the model written to
   parquet; target ≤ 60 s and ≤ 2 GB on 2 cores. Also with the KING-robust estimate instead of a list.
2. projecting one person (OADP) after their genotypes are read: the model read from parquet, one
   held-out person's genotypes read into memory, then `project` (matching, standardising, OADP) timed
   in-process; target ≤ 5 s. The same for the 20 held-out people as a cohort.

Options: `--quick` (1,000 samples × 30,000 variants), `--skip-king`. Results are also written to
`<bench dir>/ancestry_results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_engine import measure  # noqa: E402


def bench_dir() -> Path:
    """`$PRSGAZER_CACHE_DIR/bench`, else `<user cache>/prsgazer/bench` (never inside the repository)."""
    root = os.environ.get("PRSGAZER_CACHE_DIR")
    if root:
        d = Path(root).expanduser() / "bench"
    else:
        import platformdirs

        d = Path(platformdirs.user_cache_dir("prsgazer", appauthor=False)) / "bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


def ensure_panel(d: Path, n_samples: int, n_variants: int, n_holdout: int, seed: int = 18) -> Path:
    prefix = d / "ancestry" / f"panel_{n_samples}x{n_variants}_h{n_holdout}_s{seed}"
    files = [Path(f"{prefix}{ext}") for ext in (".pgen", ".pvar", ".psam")]
    files += [Path(f"{prefix}_holdout{ext}") for ext in (".pgen", ".pvar", ".psam")]
    if not all(f.exists() for f in files):
        print(f"simulating the panel {prefix.name} (msprime)…", flush=True)
        t = time.perf_counter()
        from prsgazer.synthetic.simulate import synthesize_panel

        synthesize_panel(prefix, n_samples, n_variants, seed=seed, genome_build="GRCh38", n_holdout=n_holdout)
        print(f"  simulated in {time.perf_counter() - t:.0f} s", flush=True)
    return prefix


PCA_CODE = """
import json, resource, time
t0 = time.perf_counter()
from prsgazer.engine.ancestry import PcaSettings, reference_pca
from prsgazer.engine.reference.panel import open_panel
t1 = time.perf_counter()
panel = open_panel({prefix!r})
pca = reference_pca(panel, PcaSettings(genome_build="GRCh38"), exclude={exclude})
t2 = time.perf_counter()
pca.write({out!r})
t3 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"cpu_s": ru.ru_utime + ru.ru_stime,
                  "import_s": t1 - t0, "pca_s": t2 - t1, "write_s": t3 - t2, "kept": pca.counts.kept,
                  "n_samples": pca.samples.height, "related": pca.n_related_excluded,
                  "counts": pca.counts.model_dump(), "s": pca.singular_values[:12].round(1).tolist()}}))
"""

PROJECT_CODE = """
import json, time
import numpy as np
from prsgazer.engine.ancestry import AncestryPca, project, fit_similarity, assign
from prsgazer.engine.genotypes import GenotypeSource, PgenSource
import polars as pl
t0 = time.perf_counter()
model = AncestryPca.read({model!r})
t1 = time.perf_counter()
hold = PgenSource({holdout!r}, "pfile")

class InMemory(GenotypeSource):
    # a person's genotypes already read: `read` indexes an array, no file access
    def __init__(self, src, cols):
        self.path, self.kind, self.build = src.path, "memory", src.build
        self.variants = src.variants
        self.samples = src.samples[cols]
        self._g = src.read(np.arange(src.variants.height))[:, cols]
    def read(self, vidx):
        return self._g[np.asarray(vidx)]
out = {{"model_read_s": t1 - t0}}
for label, cols in (("person", [1]), ("cohort", list(range(hold.n_samples)))):
    src = InMemory(hold, cols)
    t = time.perf_counter()
    proj = project(model, src)
    out[label + "_project_s"] = time.perf_counter() - t
    out[label + "_n"] = len(cols)
    out[label + "_shared"] = proj.n_shared
sim = fit_similarity(model.pcs, model.samples["superpopulation"].to_list())
truth = pl.read_csv({holdout!r} + ".psam", separator="\\t")["SuperPop"].to_list()
a = assign(sim, proj.matrix(), proj.pcs["sample_id"].to_list())
out["cohort_assigned_own"] = float(np.mean(np.array(a["superpopulation"].to_list()) == np.array(truth)))
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 samples × 30,000 variants")
    ap.add_argument("--skip-king", action="store_true", help="skip the run with the KING-robust estimate")
    args = ap.parse_args()
    n_samples, n_variants = (1000, 30_000) if args.quick else (3202, 100_000)
    d = bench_dir()
    prefix = ensure_panel(d, n_samples, n_variants, n_holdout=20)
    model = Path(f"{prefix}.ancestry.parquet")
    env = {"DO_NOT_TRACK": "1"}
    results: dict[str, object] = {"panel": prefix.name, "cores": os.cpu_count()}

    def run(label: str, code: str) -> dict:
        load0 = os.getloadavg()[0]
        wall, rss, out = measure(code, env=env)
        load1 = os.getloadavg()[0]
        data = json.loads(out.strip().splitlines()[-1])
        data.update(wall_s=round(wall, 2), peak_rss_mib=round(rss, 1), load_before=load0, load_after=load1)
        results[label] = data
        return data

    print(f"panel {prefix.name}: {n_samples} samples × {n_variants} variants; {os.cpu_count()} cores")
    r = run("pca", PCA_CODE.format(prefix=str(prefix), exclude="[]", out=str(model)))
    print(
        f"reference PCA (relatedness list): {r['wall_s']:.1f} s wall ({r['pca_s']:.1f} s PCA, {r['import_s']:.1f} s"
        f" imports, {r['write_s']:.2f} s write; {r['cpu_s']:.1f} CPU s), peak RSS {r['peak_rss_mib']:.0f} MiB;"
        f" {r['kept']} variants kept"
        f" of {n_variants}, {r['n_samples']} samples; load {r['load_before']:.1f}→{r['load_after']:.1f}"
    )
    print(f"  QC: {r['counts']}")
    print(f"  singular values: {r['s']}")
    if not args.skip_king:
        king_out = Path(f"{prefix}.king.ancestry.parquet")
        r = run("pca_king", PCA_CODE.format(prefix=str(prefix), exclude="None", out=str(king_out)))
        print(
            f"reference PCA (KING-robust): {r['wall_s']:.1f} s wall ({r['pca_s']:.1f} s PCA; {r['cpu_s']:.1f} CPU s),"
            f" peak RSS {r['peak_rss_mib']:.0f} MiB; {r['related']} samples excluded as related"
        )
    r = run("project", PROJECT_CODE.format(model=str(model), holdout=f"{prefix}_holdout"))
    print(
        f"projection (OADP), genotypes in memory: one person {r['person_project_s']:.2f} s"
        f" ({r['person_shared']} shared variants), {r['cohort_n']} people {r['cohort_project_s']:.2f} s;"
        f" model read {r['model_read_s']:.2f} s; held-out people assigned their own superpopulation:"
        f" {r['cohort_assigned_own']:.0%}"
    )
    (d / "ancestry_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
