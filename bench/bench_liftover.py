"""Liftover of scoring-file positions, on one core. Run: `uv run python bench/bench_liftover.py`.

Reads the real UCSC chains from ../shared/data/chain and prints, best of `--repeat` runs:
- chain parse time (hg19ToHg38, hg38ToHg19, and a synthetic chain of `--big-blocks` blocks made of
  copies of hg38ToHg19 with renamed source sequences: the real files are smaller than the 1.3M blocks
  of older hg19 chains);
- `lift_scorefile` on a `--rows`-row synthetic scoring-file frame (GRCh37 positions drawn from the hg19ToHg38
  chain: inside blocks, weighted by block length, plus gaps between blocks, positions outside every chain
  and an unknown chromosome), and `lift_positions` alone, with rows by reason;
- pyliftover (pure Python) on `--oracle-rows` positions drawn the same way, per row and extrapolated;
- peak RSS of the process after the lift, after the synthetic chain, at the end.

Threads are pinned to one (POLARS_MAX_THREADS=1 and threadpoolctl for numpy's BLAS/OpenMP pools),
before polars is imported.
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"  # before polars is imported: its pool size is fixed at import
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import gzip
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from prsgazer.engine.scorefile import SCHEMA, Chain, lift_positions, lift_scorefile, read_chain

CHAINS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chain"


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        out = None  # the previous run's result is not kept alive during the next (peak RSS)
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def synthetic_frame(chain: Chain, n: int, seed: int = 7) -> pl.DataFrame:
    """`n` rows in SCHEMA: 94 % inside blocks (by length), 4 % in gaps, 1 % outside chains, 1 % unknown chromosome."""
    rng = np.random.default_rng(seed)
    n_gap, n_out, n_unknown = n * 4 // 100, n // 100, n // 100
    n_block = n - n_gap - n_out - n_unknown
    src = np.array(chain.source_names, dtype=object)
    length = chain.block_source_end - chain.block_source_start
    b = rng.choice(chain.n_blocks, n_block, p=length / length.sum())
    block_pos = chain.block_source_start[b] + rng.integers(0, length[b]) + 1
    block_chrom = src[chain.block_source[b]]
    same = np.flatnonzero(chain.block_chain[1:] == chain.block_chain[:-1])  # block i and i+1 in one chain
    gap_len = chain.block_source_start[same + 1] - chain.block_source_end[same]
    g = rng.choice(same[gap_len > 0], n_gap)
    gap_pos = chain.block_source_end[g] + rng.integers(0, (chain.block_source_start[g + 1] - chain.block_source_end[g]))
    gap_chrom = src[chain.block_source[g]]
    out_pos = chain.source_sizes[chain.chain_source[0]] - rng.integers(0, 5000, n_out)  # chr1's last bases
    out_chrom = np.full(n_out, src[chain.chain_source[0]])
    chrom = np.concatenate([block_chrom, gap_chrom, out_chrom, np.full(n_unknown, "HLA")])
    pos = np.concatenate([block_pos, gap_pos + 1, out_pos, rng.integers(1, 10**6, n_unknown)])
    order = rng.permutation(n)
    bases = np.array(["A", "C", "G", "T"])
    ea = bases[rng.integers(0, 4, n)]
    oa = bases[(np.searchsorted(bases, ea) + rng.integers(1, 4, n)) % 4]
    indel = rng.random(n) < 0.03
    ea = np.where(indel, np.char.add(ea, "T"), ea)
    return pl.DataFrame(
        {
            "accession": np.full(n, "PGS_BENCH"),
            "row_nr": np.arange(n),
            "line": np.arange(n) + 2,
            "rsID": None,
            "chr_name": chrom[order].astype(str),
            "chr_position": pos[order],
            "effect_allele": ea,
            "other_allele": oa,
            "effect_weight": rng.normal(0, 0.01, n),
            "effect_type": "additive",
            "dosage_0_weight": None,
            "dosage_1_weight": None,
            "dosage_2_weight": None,
            "allelefrequency_effect": None,
            "unscorable": None,
        },
        schema=SCHEMA,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--oracle-rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-blocks", type=int, default=1_300_000)
    args = ap.parse_args()
    if not CHAINS.is_dir():
        sys.exit(f"chain files not found at {CHAINS} (clone ../shared beside the repo)")
    threadpool_limits(1)
    print(f"threads: POLARS_MAX_THREADS={os.environ['POLARS_MAX_THREADS']} (polars pool {pl.thread_pool_size()}), "
          "numpy pools limited to 1")

    chains: dict[str, Chain] = {}
    for name in ("hg19ToHg38", "hg38ToHg19"):
        p = CHAINS / f"{name}.over.chain.gz"
        t, chains[name] = _best(lambda p=p: read_chain(p), args.repeat)  # type: ignore[assignment]
        c = chains[name]
        print(f"parse {p.name}: {c.n_chains:,} chains, {c.n_blocks:,} blocks in {t:.3f} s "
              f"({t / c.n_blocks * 1e9:.0f} ns/block)")
    chain = chains["hg19ToHg38"]
    frame = synthetic_frame(chain, args.rows)
    rss_frame = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS after parsing both chains and building the {args.rows:,}-row frame: {rss_frame:.0f} MB")
    t_pos, res = _best(lambda: lift_positions(frame["chr_name"], frame["chr_position"], chain), args.repeat)
    t_sf, (lifted, unlifted) = _best(lambda: lift_scorefile(frame, chain), args.repeat)  # type: ignore[misc]
    print(f"lift_positions, {args.rows:,} rows: {t_pos:.3f} s ({t_pos / args.rows * 1e9:.0f} ns/row)")
    print(f"lift_scorefile, {args.rows:,} rows: {t_sf:.3f} s ({t_sf / args.rows * 1e9:.0f} ns/row): "
          f"{lifted.height:,} lifted, {unlifted.height:,} not lifted")
    reasons = unlifted.get_column("reason").value_counts(sort=True)
    print("  not lifted by reason: " + ", ".join(f"{r} {n:,}" for r, n in reasons.iter_rows()))
    print(f"  lift_positions outcomes: {res.counts()}")  # type: ignore[attr-defined]

    rss_lift = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS after the chains and the {args.rows:,}-row lift: {rss_lift:.0f} MB")
    del frame, res, lifted, unlifted

    per_copy = chains["hg38ToHg19"].n_blocks
    copies = max(1, -(-args.big_blocks // per_copy))
    with tempfile.TemporaryDirectory() as d:
        big = Path(d) / "big.over.chain"
        text = gzip.decompress((CHAINS / "hg38ToHg19.over.chain.gz").read_bytes())
        out = [text]
        for k in range(2, copies + 1):
            out.append(_rename_sources(text, f"_copy{k}".encode()))
        big.write_bytes(b"\n".join(out))
        gz = Path(d) / "big.over.chain.gz"
        gz.write_bytes(gzip.compress(big.read_bytes(), compresslevel=6))
        for label, p in (("plain", big), ("gzip", gz)):
            t, parsed = _best(lambda p=p: read_chain(p), args.repeat)
            assert isinstance(parsed, Chain)
            print(f"parse synthetic {label} chain ({copies} renamed copies of hg38ToHg19): {parsed.n_chains:,} "
                  f"chains, {parsed.n_blocks:,} blocks in {t:.3f} s ({t / parsed.n_blocks * 1e9:.0f} ns/block)")
            del parsed
    rss_big = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS after parsing the synthetic chain: {rss_big:.0f} MB")

    frame = synthetic_frame(chain, args.oracle_rows)  # positions drawn as for the large frame
    from pyliftover import LiftOver  # dev dependency: the comparison only

    t_load = time.perf_counter()
    lo = LiftOver(str(CHAINS / "hg19ToHg38.over.chain.gz"))
    t_load = time.perf_counter() - t_load
    sample = frame.head(args.oracle_rows).select("chr_name", "chr_position").rows()
    names = {c: f"chr{c}" for c, _ in sample}
    t = time.perf_counter()
    for c, p in sample:
        lo.convert_coordinate(names[c], p - 1)
    t = time.perf_counter() - t
    per = t / len(sample)
    print(f"pyliftover: load {t_load:.2f} s; {len(sample):,} rows in {t:.3f} s = {per * 1e9:.0f} ns/row "
          f"→ {per * args.rows:.1f} s for {args.rows:,} rows")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"side by side, per row: prsgazer lift_positions {t_pos / args.rows * 1e9:.0f} ns, lift_scorefile "
          f"{t_sf / args.rows * 1e9:.0f} ns, pyliftover {per * 1e9:.0f} ns ({per / (t_pos / args.rows):.0f}x)")
    print(f"peak RSS at the end (pyliftover's chain included): {rss:.0f} MB")


def _rename_sources(text: bytes, suffix: bytes) -> bytes:
    """The chain text with `suffix` appended to every header's source name (third field)."""
    lines = pl.Series("l", text.split(b"\n"), dtype=pl.Binary).cast(pl.String)
    head = lines.str.starts_with("chain ")
    renamed = pl.select(
        pl.when(head)
        .then(lines.str.replace(r"^(chain \S+ \S+)", "${1}" + suffix.decode()))
        .otherwise(lines)
    ).to_series()
    return "\n".join(renamed.to_list()).encode()


if __name__ == "__main__":
    main()
