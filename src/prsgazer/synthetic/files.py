"""Deterministic synthetic genotypes and scoring files (tests, benchmarks, demos). See docs/engine.md.

Everything is generated from a seed with numpy's PCG64, so the same call gives the same bytes.
Writers: `write_pfile` (pgenlib), `write_vcf` (plain or gzip), `write_dosage_vcf` (imputed-style
`GT:DS`, `GT:HDS`, `GT:GP` from `random_genotype_probabilities`) and `write_scorefile` (PGS Catalog
format 2.0 header + columns).
"""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pgenlib
import polars as pl

from prsgazer.engine.common import MISSING
from prsgazer.fileio import open_output, output_path, write_text

BASES = np.array(list("ACGT"))


@contextlib.contextmanager
def gzip_text(path: str | Path, compresslevel: int = 6) -> Iterator[io.TextIOWrapper]:
    """Write gzip text reproducibly: no timestamp or file name in the header, so same text → same bytes → same CID.

    Through the safe writer (`prsgazer.fileio`): the file appears complete when the block ends, or not at all.
    """
    with open_output(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0) as gz:
            with io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as fh:
                yield fh


_COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


@dataclass
class Cohort:
    """Sites (chrom, pos, id, ref, alt), samples and ALT counts (int8, MISSING for missing)."""

    sites: pl.DataFrame
    samples: list[str]
    genotypes: np.ndarray  # (n_variants, n_samples)


def random_cohort(
    n_samples: int,
    n_variants: int,
    *,
    seed: int = 0,
    missing_rate: float = 0.0,
    chrom: str = "1",
    start: int = 10_000,
    spacing: int = 97,
    allow_ambiguous: bool = True,
) -> Cohort:
    """A biallelic SNV cohort in HWE with allele frequencies U(0.02, 0.5)."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, n_variants)
    alt = (ref + rng.integers(1, 4, n_variants)) % 4
    if not allow_ambiguous:
        # A/T and C/G are the index pairs summing to 3; REF + 2 (mod 4) never makes one.
        amb = ref + alt == 3
        alt[amb] = (ref[amb] + 2) % 4
    pos = start + np.arange(n_variants, dtype=np.int64) * spacing
    p = rng.uniform(0.02, 0.5, n_variants)
    g = (rng.random((n_variants, n_samples)) < p[:, None]).astype(np.int8)
    g += (rng.random((n_variants, n_samples)) < p[:, None]).astype(np.int8)
    if missing_rate > 0:
        g[rng.random((n_variants, n_samples)) < missing_rate] = MISSING
    sites = pl.DataFrame(
        {
            "chrom": [chrom] * n_variants,
            "pos": pos,
            "id": [f"v{i}" for i in range(n_variants)],
            "ref": BASES[ref].tolist(),
            "alt": BASES[alt].tolist(),
        }
    )
    return Cohort(sites=sites, samples=[f"S{i:05d}" for i in range(n_samples)], genotypes=g)


def write_pfile(cohort: Cohort, prefix: str | Path, *, psam_extra: dict[str, list[str]] | None = None) -> Path:
    """Write `prefix`.pgen/.pvar/.psam; returns the prefix."""
    base = Path(prefix)
    n_var, n = cohort.genotypes.shape
    with output_path(str(base) + ".pgen") as tmp:
        writer = pgenlib.PgenWriter(bytes(str(tmp), "utf-8"), n, n_var, False)
        for lo in range(0, n_var, 4096):
            writer.append_biallelic_batch(np.ascontiguousarray(cohort.genotypes[lo : lo + 4096]))
        writer.close()
    s = cohort.sites
    lines = ["#CHROM\tPOS\tID\tREF\tALT"]
    lines += [
        f"{c}\t{p}\t{i}\t{r}\t{a}"
        for c, p, i, r, a in zip(s["chrom"], s["pos"], s["id"], s["ref"], s["alt"], strict=True)
    ]
    write_text(str(base) + ".pvar", "\n".join(lines) + "\n")
    cols = ["IID", *(psam_extra or {}).keys()]
    rows = ["#" + "\t".join(cols)]
    for k, sid in enumerate(cohort.samples):
        rows.append("\t".join([sid, *((psam_extra or {})[c][k] for c in cols[1:])]))
    write_text(str(base) + ".psam", "\n".join(rows) + "\n")
    return base


def gt_strings(g: np.ndarray, *, phased: bool = False) -> np.ndarray:
    """ALT counts → VCF GT strings (unphased '0/1', or phased '0|1')."""
    sep = "|" if phased else "/"
    table = np.array([f"0{sep}0", f"0{sep}1", f"1{sep}1", f".{sep}."])
    return table[np.where(g == MISSING, 3, g)]


def write_vcf(
    cohort: Cohort,
    path: str | Path,
    *,
    contig_lengths: dict[str, int] | None = None,
    reference: str | None = None,
    phased: bool = False,
    chr_prefix: bool = False,
    extra_header: list[str] | None = None,
    skip_homref: bool = False,
) -> Path:
    """Write a VCF (gzip when the name ends in .gz). `skip_homref` drops records where every call is 0/0."""
    p = Path(path)
    header = ["##fileformat=VCFv4.2"]
    if reference:
        header.append(f"##reference={reference}")
    for c, ln in (contig_lengths or {}).items():
        header.append(f"##contig=<ID={'chr' if chr_prefix else ''}{c},length={ln}>")
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header += extra_header or []
    header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(cohort.samples))
    gts = gt_strings(cohort.genotypes, phased=phased)
    s = cohort.sites
    body = []
    for k, (c, pos, i, r, a) in enumerate(zip(s["chrom"], s["pos"], s["id"], s["ref"], s["alt"], strict=True)):
        if skip_homref and (cohort.genotypes[k] == 0).all():
            continue
        chrom = f"chr{c}" if chr_prefix else c
        body.append(f"{chrom}\t{pos}\t{i}\t{r}\t{a}\t50\tPASS\t.\tGT\t" + "\t".join(gts[k]))
    text = "\n".join(header + body) + "\n"
    if p.name.endswith(".gz"):
        with gzip_text(p) as fh:
            fh.write(text)
    else:
        write_text(p, text)
    return p


def random_genotype_probabilities(cohort: Cohort, *, seed: int = 0, noise: float = 0.6) -> np.ndarray:
    """(n_variants, n_samples, 3) genotype probabilities P(0/0), P(0/1), P(1/1) around the hard calls,
    as an imputation server would give them: (1 − e) · one-hot(call) + e · Dirichlet(1, 1, 1) with e
    uniform in [0, noise) per call; a missing call gets a flat Dirichlet draw."""
    rng = np.random.default_rng(seed)
    g = cohort.genotypes
    e = rng.uniform(0.0, noise, g.shape)[..., None]
    flat = rng.dirichlet(np.ones(3), g.shape)
    onehot = np.zeros((*g.shape, 3))
    called = g != MISSING
    onehot[called, g[called].astype(np.int64)] = 1.0
    e = np.where(called[..., None], e, 1.0)
    return (1.0 - e) * onehot + e * flat


def write_dosage_vcf(
    cohort: Cohort,
    path: str | Path,
    gp: np.ndarray,
    *,
    fields: tuple[str, ...] = ("DS",),
    no_dosage: np.ndarray | None = None,
    decimals: int = 4,
    contig_lengths: dict[str, int] | None = None,
    seed: int = 0,
) -> Path:
    """A VCF with `GT:<fields>` per call (gzip when the name ends in .gz): GT the cohort's hard call,
    DS = P(0/1) + 2·P(1/1), HDS = DS split into two haplotype dosages in [0, 1], GP = the
    probabilities, each printed with `decimals` decimals. Calls where `no_dosage` is True have `.`
    in every dosage field."""
    p = Path(path)
    rng = np.random.default_rng(seed)
    header = ["##fileformat=VCFv4.2"]
    for c, ln in (contig_lengths or {}).items():
        header.append(f"##contig=<ID={c},length={ln}>")
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    described = {
        "DS": '##FORMAT=<ID=DS,Number=A,Type=Float,Description="Estimated ALT dose">',
        "HDS": '##FORMAT=<ID=HDS,Number=2,Type=Float,Description="Estimated haploid ALT dose">',
        "GP": '##FORMAT=<ID=GP,Number=G,Type=Float,Description="Genotype probabilities">',
    }
    header += [described[f] for f in fields]
    header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(cohort.samples))
    ds = gp[..., 1] + 2 * gp[..., 2]
    half = ds / 2
    room = np.minimum(half, 1 - half)
    h1 = np.clip(half + rng.uniform(-1, 1, ds.shape) * room, 0, 1)
    h2 = np.clip(ds - h1, 0, 1)
    fmt = f"{{:.{decimals}f}}"
    texts = {
        "DS": np.vectorize(fmt.format, otypes=[object])(ds),
        "HDS": np.char.add(
            np.char.add(np.vectorize(fmt.format, otypes=[str])(h1), ","), np.vectorize(fmt.format, otypes=[str])(h2)
        ),
        "GP": np.vectorize(lambda a, b, c: f"{fmt.format(a)},{fmt.format(b)},{fmt.format(c)}", otypes=[str])(
            gp[..., 0], gp[..., 1], gp[..., 2]
        ),
    }
    cells = gt_strings(cohort.genotypes).astype(object)
    for f in fields:
        t = texts[f].astype(object)
        if no_dosage is not None:
            t = np.where(no_dosage, ".", t)
        cells = cells + ":" + t
    s = cohort.sites
    body = [
        f"{c}\t{pos}\t{i}\t{r}\t{a}\t50\tPASS\t.\tGT:{':'.join(fields)}\t" + "\t".join(cells[k])
        for k, (c, pos, i, r, a) in enumerate(zip(s["chrom"], s["pos"], s["id"], s["ref"], s["alt"], strict=True))
    ]
    text = "\n".join(header + body) + "\n"
    if p.name.endswith(".gz"):
        with gzip_text(p) as fh:
            fh.write(text)
    else:
        write_text(p, text)
    return p


@dataclass
class SyntheticScore:
    """A scoring file's rows plus, per row, the truth: target row index and effect-is-ALT."""

    rows: pl.DataFrame  # chr_name, chr_position, effect_allele, other_allele, effect_weight, is_dominant, is_recessive
    target_row: np.ndarray
    effect_is_alt: np.ndarray


def random_score(
    cohort: Cohort,
    n_rows: int,
    *,
    seed: int = 1,
    flip_rate: float = 0.0,
    no_oa_rate: float = 0.0,
    dominant_rate: float = 0.0,
    recessive_rate: float = 0.0,
    exclude_ambiguous: bool = True,
) -> SyntheticScore:
    """Rows on distinct cohort variants: random effect allele (REF or ALT), optional strand flips,
    rows without other allele, dominant/recessive rows. Ambiguous sites are skipped by default so
    every row is scorable under default matching."""
    rng = np.random.default_rng(seed)
    s = cohort.sites
    ref = np.array(s["ref"].to_list())
    alt = np.array(s["alt"].to_list())
    ok = np.ones(len(ref), dtype=bool)
    if exclude_ambiguous:
        ok = np.array([_COMP[r] != a for r, a in zip(ref, alt, strict=True)])
    pick = rng.choice(np.flatnonzero(ok), size=min(n_rows, int(ok.sum())), replace=False)
    pick.sort()
    is_alt = rng.random(len(pick)) < 0.5
    ea = np.where(is_alt, alt[pick], ref[pick])
    oa = np.where(is_alt, ref[pick], alt[pick])
    flip = rng.random(len(pick)) < flip_rate
    ea = np.array([_COMP[x] if f else x for x, f in zip(ea, flip, strict=True)])
    oa = np.array([_COMP[x] if f else x for x, f in zip(oa, flip, strict=True)])
    no_oa = rng.random(len(pick)) < no_oa_rate
    u = rng.random(len(pick))
    dom = u < dominant_rate
    rec = (u >= dominant_rate) & (u < dominant_rate + recessive_rate)
    w = np.round(rng.normal(0, 0.1, len(pick)), 9)  # 9 digits: no ties at 6 printed digits
    rows = pl.DataFrame(
        {
            "chr_name": s["chrom"].gather(pick),
            "chr_position": s["pos"].gather(pick),
            "effect_allele": ea.tolist(),
            "other_allele": [None if n else o for o, n in zip(oa.tolist(), no_oa, strict=True)],
            "effect_weight": w,
            "is_dominant": dom,
            "is_recessive": rec,
        }
    )
    return SyntheticScore(rows=rows, target_row=pick, effect_is_alt=is_alt)


def write_scorefile(
    rows: pl.DataFrame,
    path: str | Path,
    *,
    pgs_id: str = "PGS999999",
    genome_build: str = "GRCh37",
    trait: str = "synthetic trait",
    trait_efo: str = "",
    pgs_name: str | None = None,
    weight_type: str = "",
    hm_build: str | None = None,
    citation: str = "",
) -> Path:
    """Write `rows` as a PGS Catalog format 2.0 scoring file (gzip when the name ends in .gz), atomically.

    With `hm_build` the header carries the harmonisation block (`#HmPOS_build`), as the Catalog's
    harmonised downloads do; `rows` then should have `hm_chr` / `hm_pos` columns.
    """
    p = Path(path)
    header = [
        "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring"
        " for additional information",
        "#format_version=2.0",
        "##POLYGENIC SCORE (PGS) INFORMATION",
        f"#pgs_id={pgs_id}",
        f"#pgs_name={pgs_name or pgs_id + '_synthetic'}",
        f"#trait_reported={trait}",
        *([f"#trait_mapped={trait.lower()}", f"#trait_efo={trait_efo}"] if trait_efo else []),
        *([f"#weight_type={weight_type}"] if weight_type else []),
        f"#genome_build={genome_build}",
        f"#variants_number={rows.height}",
    ]
    if citation:
        header += ["##SOURCE INFORMATION", f"#citation={citation}", "#license=CC0"]
    if hm_build:
        header += [
            "##HARMONIZATION DETAILS",
            f"#HmPOS_build={hm_build}",
            "#HmPOS_date=2026-01-01",
            '#HmPOS_match_chr={"True": null, "False": null}',
            '#HmPOS_match_pos={"True": null, "False": null}',
        ]
    text = "\n".join(header) + "\n" + rows.write_csv(separator="\t", null_value="", quote_style="never")
    if p.name.endswith(".gz"):
        with gzip_text(p) as fh:
            fh.write(text)
    else:
        write_text(p, text)
    return p
