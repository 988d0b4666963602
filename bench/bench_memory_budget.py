"""One memory limit per process (issue 14): four concurrent batches, with and without a shared budget.

Run: `uv run python bench/bench_memory_budget.py [--limit 1GB] [--size quick|medium|full]`.

Workload: the reference benchmark's panel and scoring files (`bench_reference.py`): `quick` (1,000
samples × 60,000 variants, 102 scoring files: too small to reach the limit), `medium` (default:
3,202 samples × 200,000 variants, 40 log-spaced scores up to 20,000 variants and 4 of 100,000, so each
batch's chunks fill what the limit allows; the panel takes a few minutes to simulate once), `full`
(3,202 × 1,000,000 and 505 files). The files are split into four groups scored by four threads of one
process at once, as four tasks of a local run or four MCP requests are. Each mode runs in a fresh
subprocess measured by /usr/bin/time (its own peak RSS), with the parsed-file cache warm and the
batch results not:

- `per batch`: every `batch_score` plans for the whole limit by itself (what the limit meant before);
- `shared`: the four share one `MemoryBudget` of the limit (what the operations layer does now).

Prints wall time and peak RSS of each, against the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_engine import measure  # noqa: E402
from bench_reference import bench_dir, ensure_panel, ensure_scorefiles, warm_panel  # noqa: E402

CODE = """
import json, threading, time
from pathlib import Path
from prsgazer.engine.reference.panel import open_panel
from prsgazer.engine.scoring.batch import MemoryBudget, batch_score, parse_memory
from prsgazer.engine.scoring.match import MatchOptions
files = [Path(l) for l in Path({files!r}).read_text().split()]
groups = [files[k::4] for k in range(4)]
shared = MemoryBudget({limit!r}) if {shared!r} else None
spans = {{}}
def one(k):
    panel = open_panel({prefix!r}, cache_dir=Path({cache!r}))
    try:
        t = time.perf_counter()
        r = batch_score(panel, groups[k], out_dir=Path({out!r}) / f"b{{k}}", cache_dir=Path({cache!r}),
                        memory_limit={limit!r}, budget=shared, match_options=MatchOptions(keep_ambiguous=True))
        spans[k] = (t, time.perf_counter(), r.n_ok, r.timings.get("wait for memory", 0.0))
    finally:
        panel.close()
threads = [threading.Thread(target=one, args=(k,)) for k in range(4)]
t0 = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({{"wall": time.perf_counter() - t0, "n_ok": sum(s[2] for s in spans.values()),
                  "waited": [round(s[3], 2) for s in spans.values()], "waits": shared.waits if shared else 0}}))
"""


def run(d: Path, prefix: Path, files: list[Path], limit: str, *, shared: bool) -> dict:
    out = d / "runs" / "budget_out"
    shutil.rmtree(out, ignore_errors=True)
    cache = d / "runs" / "cache_main"
    lst = d / "runs" / "budget_files.txt"
    lst.parent.mkdir(parents=True, exist_ok=True)
    lst.write_text("\n".join(str(f) for f in files))
    code = CODE.format(files=str(lst), prefix=str(prefix), cache=str(cache), out=str(out), limit=limit, shared=shared)
    load = os.getloadavg()[0]
    wall, rss, stdout = measure(code, env={"PRSGAZER_CACHE_DIR": str(cache)})
    res = json.loads(stdout.strip().splitlines()[-1])
    res.update(process_wall=wall, peak_rss_mib=rss, load=[round(load, 1), round(os.getloadavg()[0], 1)])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", default="1GB")
    ap.add_argument("--size", choices=["quick", "medium", "full"], default="medium")
    a = ap.parse_args()
    d = bench_dir()
    n_samples, n_variants, n_scores, max_size, n_gw, gw = {
        "quick": (1000, 60_000, 100, 12_000, 2, 48_000),
        "medium": (3202, 200_000, 40, 20_000, 4, 100_000),
        "full": (3202, 1_000_000, 500, 200_000, 5, 800_000),
    }[a.size]
    prefix = ensure_panel(d, n_samples, n_variants)
    files = ensure_scorefiles(d, prefix, n_scores, max_size, n_gw, gw)
    cache = d / "runs" / "cache_main"
    warm_panel(prefix, cache)
    from prsgazer.engine.scorefile import read_scorefiles  # parse every file once: the measured runs are warm

    read_scorefiles(files, cache_dir=cache)
    from prsgazer.engine.scoring.batch import parse_memory

    limit_mib = parse_memory(a.limit) / 2**20
    print(f"4 concurrent batches of {len(files) // 4}–{-(-len(files) // 4)} scoring files, {n_samples:,} samples × "
          f"{n_variants:,} variants, limit {a.limit} ({limit_mib:,.0f} MiB), {os.cpu_count()} cores")  # fmt: skip
    for shared in (False, True):
        r = run(d, prefix, files, a.limit, shared=shared)
        mode = "shared budget" if shared else "per batch    "
        print(f"{mode}  wall {r['process_wall']:5.1f} s  peak RSS {r['peak_rss_mib']:6,.0f} MiB "
              f"({r['peak_rss_mib'] / limit_mib:.2f} × the limit)  scores ok {r['n_ok']}  "
              f"waited {r['waited']} s  load {r['load'][0]}–{r['load'][1]}")  # fmt: skip


if __name__ == "__main__":
    main()
