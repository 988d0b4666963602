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


def write_bn_panel(prefix: Path, n_samples: int, n_variants: int, seed: int = 7) -> Path:
    """Write `<prefix>.pgen/.pvar/.psam` (GRCh38 autosomes; psam with SuperPop and Population)."""
    import pgenlib

    from prsgazer.synthetic.simulate import CHROM_LENGTHS, SUPERPOPULATIONS

    rng = np.random.default_rng(seed)
    lengths = CHROM_LENGTHS["GRCh38"]
    w = np.array(list(lengths.values()), dtype=float)
    per_chrom = np.floor(w / w.sum() * n_variants).astype(int)
    per_chrom[0] += n_variants - per_chrom.sum()
    chrom, pos = [], []
    for (c, ln), k in zip(lengths.items(), per_chrom, strict=True):
        chrom += [c] * int(k)
        pos.append(np.sort(rng.choice(ln - 20_000, int(k), replace=False)).astype(np.int64) + 10_000)
    pos_all = np.concatenate(pos)
    ref = rng.choice(np.array(list("ACGT")), n_variants)
    pick = rng.integers(0, 2, n_variants)
    alt = np.array([_ALTS[r][i] for r, i in zip(ref.tolist(), pick.tolist(), strict=True)])
    p0 = np.exp(rng.uniform(np.log(0.01), np.log(0.99), n_variants))

    sizes = _sizes(n_samples)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{prefix}.pgen.tmp")
    writer = pgenlib.PgenWriter(str(tmp).encode(), n_samples, variant_ct=n_variants, nonref_flags=False)
    a = p0 * (1 - F_ST) / F_ST
    b = (1 - p0) * (1 - F_ST) / F_ST
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
    pvar = pl.DataFrame({"#CHROM": chrom, "POS": pos_all, "REF": ref, "ALT": alt}).with_columns(
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
    pl.DataFrame({"#IID": iids, "SEX": rng.integers(1, 3, n_samples), "SuperPop": sp, "Population": pop}).write_csv(
        f"{prefix}.psam.tmp", separator="\t"
    )
    # .pvar and .psam last: their presence means the .pgen is complete
    os.replace(tmp, f"{prefix}.pgen")
    os.replace(f"{prefix}.psam.tmp", f"{prefix}.psam")
    os.replace(f"{prefix}.pvar.tmp", f"{prefix}.pvar")
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
