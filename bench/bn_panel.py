"""A fast synthetic reference panel for the benchmarks: Balding–Nichols allele frequencies across the
five 1000 Genomes superpopulations, written as a plink2 pfile. See docs/benchmarks.md.

msprime (`prsgazer.synthetic.simulate.synthesize_panel`) gives real linkage disequilibrium but takes
~17 min for 3,202 × 1M; scoring speed does not depend on LD, only on the genotype matrix's allele
frequency spectrum, which this reproduces in seconds:

- ancestral ALT frequency p ~ log-uniform on [0.01, 0.99] (the 1/x spectrum of derived alleles in a
  panel filtered at MAF ≥ 1 %: ALT is the minor allele at ~85 % of sites, as in msprime's panels);
- per superpopulation, p_k ~ Beta(p(1−F)/F, (1−p)(1−F)/F) with F = 0.1 (continental F_ST);
- genotypes are two Bernoulli(p_k) draws, so Hardy–Weinberg within each superpopulation.

There are no missing calls (every tool then scores the same cells: gnomon counts a missing call as 0
where prsgazer and plink2 mean-impute) and no strand-ambiguous (A/T, C/G) allele pairs (prsgazer and
plink2's pgsc_calc-style matching drop them by default, gnomon keeps them), so every scoring-file row
matches in every tool under its default rules. Seeded: the same arguments give the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

#: 1000 Genomes superpopulation sizes (3,202 samples) — scaled for other sizes.
SUPERPOPS = {"AFR": 893, "AMR": 490, "EAS": 585, "EUR": 633, "SAS": 601}
F_ST = 0.1
BLOCK = 8192
# non-ambiguous ALT for each REF: neither the REF nor its complement
_ALTS = {"A": ("C", "G"), "C": ("A", "T"), "G": ("A", "T"), "T": ("C", "G")}


def _sizes(n: int) -> dict[str, int]:
    total = sum(SUPERPOPS.values())
    raw = {k: n * v / total for k, v in SUPERPOPS.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: out[k] - raw[k])[: n - sum(out.values())]:
        out[k] += 1
    return out


class _Sites(NamedTuple):
    chrom: list[str]
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    p0: np.ndarray  # ancestral ALT frequency


def _sites(rng: np.random.Generator, n_variants: int) -> _Sites:
    """Positions spread over the GRCh38 autosomes by length, non-ambiguous REF/ALT, ALT frequencies."""
    from prsgazer.synthetic.simulate import CHROM_LENGTHS

    lengths = CHROM_LENGTHS["GRCh38"]
    w = np.array(list(lengths.values()), dtype=float)
    per_chrom = np.floor(w / w.sum() * n_variants).astype(int)
    per_chrom[0] += n_variants - per_chrom.sum()
    chrom, pos = [], []
    for (c, ln), k in zip(lengths.items(), per_chrom, strict=True):
        chrom += [c] * int(k)
        pos.append(np.sort(rng.choice(ln - 20_000, int(k), replace=False)).astype(np.int64) + 10_000)
    ref = rng.choice(np.array(list("ACGT")), n_variants)
    pick = rng.integers(0, 2, n_variants)
    alt = np.array([_ALTS[r][i] for r, i in zip(ref.tolist(), pick.tolist(), strict=True)])
    p0 = np.exp(rng.uniform(np.log(0.01), np.log(0.99), n_variants))
    return _Sites(chrom, np.concatenate(pos), ref, alt, p0)


def _write_tables(prefix: Path, sites: _Sites, sizes: dict[str, int], rng: np.random.Generator) -> None:
    """`<prefix>.pvar.tmp` and `<prefix>.psam.tmp` (SuperPop and Population columns)."""
    from prsgazer.synthetic.simulate import CHROM_LENGTHS, SUPERPOPULATIONS

    lengths = CHROM_LENGTHS["GRCh38"]
    pvar = pl.DataFrame({"#CHROM": sites.chrom, "POS": sites.pos, "REF": sites.ref, "ALT": sites.alt}).with_columns(
        ID=pl.format("{}:{}:{}:{}", pl.col("#CHROM"), pl.col("POS"), pl.col("REF"), pl.col("ALT"))
    )
    iids, sp, pop = [], [], []
    for name, n_k in sizes.items():
        pops = SUPERPOPULATIONS[name][1]
        for i in range(n_k):
            iids.append(f"{name}{i + 1:05d}")
            sp.append(name)
            pop.append(pops[i % len(pops)])
    header = "".join(f"##contig=<ID={c},length={ln},assembly=GRCh38>\n" for c, ln in lengths.items())
    with open(f"{prefix}.pvar.tmp", "w") as fh:
        fh.write(header)
        pvar.select("#CHROM", "POS", "ID", "REF", "ALT").write_csv(fh, separator="\t")
    n_samples = sum(sizes.values())
    pl.DataFrame({"#IID": iids, "SEX": rng.integers(1, 3, n_samples), "SuperPop": sp, "Population": pop}).write_csv(
        f"{prefix}.psam.tmp", separator="\t"
    )


def _publish(prefix: Path) -> None:
    """Move the finished files in place: .pvar and .psam last, their presence means the .pgen is complete."""
    os.replace(f"{prefix}.pgen.tmp", f"{prefix}.pgen")
    os.replace(f"{prefix}.psam.tmp", f"{prefix}.psam")
    os.replace(f"{prefix}.pvar.tmp", f"{prefix}.pvar")


def write_bn_panel(prefix: Path, n_samples: int, n_variants: int, seed: int = 7) -> Path:
    """Write `<prefix>.pgen/.pvar/.psam` (GRCh38 autosomes; psam with SuperPop and Population)."""
    import pgenlib

    rng = np.random.default_rng(seed)
    sites = _sites(rng, n_variants)
    sizes = _sizes(n_samples)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    writer = pgenlib.PgenWriter(f"{prefix}.pgen.tmp".encode(), n_samples, variant_ct=n_variants, nonref_flags=False)
    a = sites.p0 * (1 - F_ST) / F_ST
    b = (1 - sites.p0) * (1 - F_ST) / F_ST
    try:
        for lo in range(0, n_variants, BLOCK):
            hi = min(lo + BLOCK, n_variants)
            block = np.empty((hi - lo, n_samples), dtype=np.int8)
            col = 0
            for n_k in sizes.values():
                pk = rng.beta(a[lo:hi], b[lo:hi])[:, None]
                g = (rng.random((hi - lo, n_k)) < pk).view(np.int8) + (rng.random((hi - lo, n_k)) < pk).view(np.int8)
                block[:, col : col + n_k] = g
                col += n_k
            writer.append_biallelic_batch(block)
    finally:
        writer.close()
    _write_tables(prefix, sites, sizes, rng)
    _publish(prefix)
    return prefix


def ensure_bn_panel(d: Path, n_samples: int, n_variants: int, seed: int = 7) -> Path:
    prefix = d / "panel" / f"bn_{n_samples}x{n_variants}_s{seed}"
    if not all(Path(f"{prefix}{ext}").exists() for ext in (".pgen", ".pvar", ".psam")):
        import time

        print(f"writing the Balding–Nichols panel {prefix.name}…", flush=True)
        t = time.perf_counter()
        write_bn_panel(prefix, n_samples, n_variants, seed)
        print(f"  written in {time.perf_counter() - t:.0f} s", flush=True)
    return prefix


# ------------------------------------------------------------------------------------------------
# dosages (issue 13: a cohort of imputed dosages, bench/bench_dosage.py)

#: imputation quality r per variant ~ Uniform(R_LOW, 1): the dosage is r·g + (1 − r)·2p_k + noise
R_LOW = 0.4
#: scale of the noise: sigma·(1 − r)·t, t triangular on [−1, 1)
NOISE = 0.5
DOSAGE_BLOCK = 1024
#: bytes per genotype a dosage .pgen takes (2-byte dosage + 2-bit hard call, measured: 2.15)
DOSAGE_BYTES = 2.2


def _dosage_kernel():  # type: ignore[no-untyped-def]
    """The compiled block filler (numba, built on first use: importing this module compiles nothing)."""
    from numba import njit, prange

    @njit(inline="always")
    def mix(x):  # type: ignore[no-untyped-def]  # splitmix64: a counter-based generator, one key per cell
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    @njit(parallel=True)
    def fill(out, pk, pop, r, first, key, noise):  # type: ignore[no-untyped-def]
        m, n = out.shape
        mask = np.uint64(0xFFFF)
        for v in prange(m):
            rv = r[v]
            base = key + (np.uint64(first) + np.uint64(v)) * np.uint64(n)
            for i in range(n):
                p = pk[v, pop[i]]
                h = mix(base + np.uint64(i))
                g = 0.0
                if np.float64(h & mask) / 65536.0 < p:
                    g += 1.0
                if np.float64((h >> np.uint64(16)) & mask) / 65536.0 < p:
                    g += 1.0
                t = (np.float64((h >> np.uint64(32)) & mask) + np.float64(h >> np.uint64(48))) / 65536.0 - 1.0
                d = rv * g + (1.0 - rv) * 2.0 * p + noise * (1.0 - rv) * t
                d = min(max(d, 0.0), 2.0)
                out[v, i] = np.float32(np.round(d * 1000.0) / 1000.0)

    return fill


def write_bn_dosage_panel(prefix: Path, n_samples: int, n_variants: int, seed: int = 7) -> Path:
    """`<prefix>.pgen/.pvar/.psam` with imputation-like dosages: the Balding–Nichols panel's sites and
    frequencies, true genotypes g ~ Binomial(2, p_k) within each superpopulation, and per variant an
    imputation quality r ~ Uniform(0.4, 1): dosage = r·g + (1 − r)·2p_k + 0.5·(1 − r)·t (t triangular on
    [−1, 1)), clipped to [0, 2] and rounded to 3 decimals (as minimac writes DS). No missing dosages.

    Written in blocks of 1,024 variants (~80 MB of float32 at 20,000 samples); the random draws come
    from a counter-based generator keyed by (seed, variant, sample), so the bytes do not depend on the
    block size or the number of threads."""
    import pgenlib

    rng = np.random.default_rng(seed)
    sites = _sites(rng, n_variants)
    quality = rng.uniform(R_LOW, 1.0, n_variants)
    sizes = _sizes(n_samples)
    pop = np.repeat(np.arange(len(sizes)), list(sizes.values())).astype(np.int64)
    a = sites.p0 * (1 - F_ST) / F_ST
    b = (1 - sites.p0) * (1 - F_ST) / F_ST
    key = np.uint64(np.random.default_rng(seed).integers(0, 2**62))
    fill = _dosage_kernel()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    writer = pgenlib.PgenWriter(
        f"{prefix}.pgen.tmp".encode(), n_samples, variant_ct=n_variants, nonref_flags=False, dosage_present=True
    )
    block = np.empty((min(DOSAGE_BLOCK, n_variants), n_samples), dtype=np.float32)
    try:
        for lo in range(0, n_variants, DOSAGE_BLOCK):
            hi = min(lo + DOSAGE_BLOCK, n_variants)
            pk = np.stack([rng.beta(a[lo:hi], b[lo:hi]) for _ in sizes], axis=1)
            fill(block[: hi - lo], pk, pop, quality[lo:hi], lo, key, NOISE)
            writer.append_dosages_batch(block[: hi - lo])
    finally:
        writer.close()
    _write_tables(prefix, sites, sizes, rng)
    _publish(prefix)
    return prefix


def ensure_bn_dosage_panel(d: Path, n_samples: int, n_variants: int, seed: int = 7) -> Path:
    """`<d>/panel/bn_dosage_<n>x<m>_s<seed>`, written once (after checking the disk has room for it)."""
    import shutil
    import time

    prefix = d / "panel" / f"bn_dosage_{n_samples}x{n_variants}_s{seed}"
    if all(Path(f"{prefix}{ext}").exists() for ext in (".pgen", ".pvar", ".psam")):
        return prefix
    need = DOSAGE_BYTES * n_samples * n_variants
    prefix.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(prefix.parent).free
    if free < need + 5e9:
        raise SystemExit(f"{prefix.name}.pgen needs ~{need / 1e9:.1f} GB; {free / 1e9:.1f} GB free on "
                         f"{prefix.parent} (5 GB kept spare)")  # fmt: skip
    print(f"writing the dosage panel {prefix.name} (~{need / 1e9:.1f} GB)…", flush=True)
    t = time.perf_counter()
    write_bn_dosage_panel(prefix, n_samples, n_variants, seed)
    print(f"  written in {time.perf_counter() - t:.0f} s", flush=True)
    return prefix


def swapped_panel(prefix: Path) -> Path:
    """`<prefix>_swapped`: the same panel with REF and ALT exchanged (genotypes 2 − g, IDs renamed), written once.

    The genotype information is identical; only which allele is called ALT changes (ALT becomes the
    major allele at ~85 % of sites). A tool whose cost depends on the ALT-count coding shows it here.
    """
    import pgenlib

    out = prefix.with_name(prefix.name + "_swapped")
    if all(Path(f"{out}{ext}").exists() for ext in (".pgen", ".pvar", ".psam")):
        return out
    print(f"writing {out.name} (REF and ALT exchanged)…", flush=True)
    r = pgenlib.PgenReader(f"{prefix}.pgen".encode())
    n, m = r.get_raw_sample_ct(), r.get_variant_ct()
    tmp = Path(f"{out}.pgen.tmp")
    w = pgenlib.PgenWriter(str(tmp).encode(), n, variant_ct=m, nonref_flags=False)
    buf = np.empty((BLOCK, n), dtype=np.int8)
    try:
        for lo in range(0, m, BLOCK):
            hi = min(lo + BLOCK, m)
            r.read_range(lo, hi, buf[: hi - lo])
            w.append_biallelic_batch(np.ascontiguousarray(2 - buf[: hi - lo]))
    finally:
        w.close()
        r.close()
    lines = Path(f"{prefix}.pvar").read_text().splitlines()
    body = [ln if ln.startswith("#") else _swap_line(ln) for ln in lines]
    Path(f"{out}.psam.tmp").write_text(Path(f"{prefix}.psam").read_text())
    Path(f"{out}.pvar.tmp").write_text("\n".join(body) + "\n")
    os.replace(tmp, f"{out}.pgen")
    os.replace(f"{out}.psam.tmp", f"{out}.psam")
    os.replace(f"{out}.pvar.tmp", f"{out}.pvar")
    return out


def _swap_line(line: str) -> str:
    chrom, pos, _, ref, alt = line.split("\t")
    return "\t".join([chrom, pos, f"{chrom}:{pos}:{alt}:{ref}", alt, ref])
