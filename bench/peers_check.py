"""What bench_peers.py compares the tools with: an independent match, plink2's score file, numpy sums,
and every tool's sums read into one long frame (sample_id, score, sum). See docs/benchmarks.md.

Nothing here uses prsgazer's matcher or scorer: the match is a join on chromosome and position plus
the allele pair in either orientation, and the sums are numpy products over genotypes read with
pgenlib (or parsed from a single-sample VCF's GT field).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

# ------------------------------------------------------------------------------------------------
# scoring files and targets


def read_score_rows(paths: list[Path]) -> pl.DataFrame:
    """All rows of PGS Catalog-format files: score, chrom, pos, ea, oa, w (harmonised columns preferred)."""
    parts = []
    for p in paths:
        name = None
        opener = gzip.open if p.name.endswith(".gz") else open
        with opener(p, "rt") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                if line.startswith("#pgs_id="):
                    name = line.strip().split("=", 1)[1]
        t = pl.read_csv(p, separator="\t", comment_prefix="#", infer_schema=False)
        chrom, pos = ("hm_chr", "hm_pos") if "hm_chr" in t.columns else ("chr_name", "chr_position")
        parts.append(
            t.select(
                pl.lit(name or p.name.split(".")[0]).alias("score"),
                pl.col(chrom).str.replace("^chr", "").alias("chrom"),
                pl.col(pos).cast(pl.Int64).alias("pos"),
                pl.col("effect_allele").alias("ea"),
                pl.col("other_allele").alias("oa"),
                pl.col("effect_weight").cast(pl.Float64).alias("w"),
            )
        )
    return pl.concat(parts)


def read_pvar(prefix: Path) -> pl.DataFrame:
    """A .pvar as `#CHROM POS ID REF ALT …` (its `##` header lines skipped)."""
    return pl.read_csv(f"{prefix}.pvar", separator="\t", comment_prefix="##", schema_overrides={"#CHROM": pl.String})


def pvar_target(prefix: Path) -> pl.DataFrame:
    """vidx, chrom, pos, id, ref, alt of a pfile's variants."""
    return (
        read_pvar(prefix)
        .with_row_index("vidx")
        .select(
            "vidx",
            pl.col("#CHROM").str.replace("^chr", "").alias("chrom"),
            pl.col("POS").cast(pl.Int64).alias("pos"),
            pl.col("ID").alias("id"),
            pl.col("REF").alias("ref"),
            pl.col("ALT").alias("alt"),
        )
    )


def psam_iids(prefix: Path) -> list[str]:
    t = pl.read_csv(f"{prefix}.psam", separator="\t", infer_schema=False).rename(lambda c: c.lstrip("#"))
    return t["IID"].to_list()


def vcf_target(vcf: Path, cache: Path) -> pl.DataFrame:
    """vidx, chrom, pos, id, ref, alt, dosage (ALT count) of a single-sample VCF, parsed once with polars
    and kept as parquet. IDs are chrom:pos:ref:alt (as plink2's --set-all-var-ids @:#:$r:$a makes them)."""
    if not cache.exists():
        t = pl.read_csv(vcf, separator="\t", comment_prefix="##", infer_schema=False, columns=[0, 1, 3, 4, 9])
        t = t.rename(dict(zip(t.columns, ["chrom", "pos", "ref", "alt", "s"], strict=True)))
        gt = pl.col("s").str.split(":").list.first()
        dosage = (
            pl.when(gt.is_in(["0/0", "0|0"]))
            .then(0)
            .when(gt.is_in(["0/1", "1/0", "0|1", "1|0"]))
            .then(1)
            .when(gt.is_in(["1/1", "1|1"]))
            .then(2)
            .otherwise(None)
        )
        t = t.with_row_index("vidx").select(
            "vidx",
            pl.col("chrom").str.replace("^chr", ""),
            pl.col("pos").cast(pl.Int64),
            "ref",
            "alt",
            dosage.cast(pl.Int8).alias("dosage"),
        )
        first_alt = pl.col("alt").str.split(",").list.first()
        t = t.with_columns(id=pl.format("{}:{}:{}:{}", "chrom", "pos", "ref", first_alt))
        tmp = cache.with_name(cache.name + ".tmp")
        t.write_parquet(tmp)
        os.replace(tmp, cache)
    return pl.read_parquet(cache)


# ------------------------------------------------------------------------------------------------
# the independent match


_COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}


@dataclass
class Match:
    """An independent match.

    `rows` follow pgsc_calc's rules, as prsgazer does: an exact allele pair first, else the pair on the
    other strand (complemented: a strand flip); a variant matched by two rows of one score is dropped
    from that score (plink2 would refuse the duplicate ID). `gnomon_rows` follow gnomon's: exact allele
    pairs only, two rows on one variant added together (it counts the variant once: `gnomon_n`).
    """

    rows: pl.DataFrame
    counts: dict[str, int]
    gnomon_rows: pl.DataFrame
    gnomon_n: dict[str, int]
    n_duplicate_rows: int
    n_flip_rows: int

    @property
    def names(self) -> list[str]:
        return sorted(self.counts)

    @property
    def n_rows(self) -> int:
        return sum(self.counts.values())

    def differences(self) -> list[str]:
        """What makes gnomon's rows differ from the others' here (nothing when they agree)."""
        out = []
        if self.n_flip_rows:
            out.append(f"{self.n_flip_rows} rows match only on the other strand (a flip): prsgazer and pgsc_calc "
                       "score them, and plink2 with them in its file; gnomon does not (it matches alleles as "
                       "written)")  # fmt: skip
        if self.n_duplicate_rows:
            out.append(f"{self.n_duplicate_rows} rows matched a variant that another row of the same score also "
                       "matched: prsgazer (pgsc_calc's rule) and plink2's file leave both out; gnomon adds them "
                       "and counts the variant once")  # fmt: skip
        return out


def independent_match(rows: pl.DataFrame, target: pl.DataFrame) -> Match:
    """Rows whose chromosome and position are a target variant's and whose allele pair is its REF/ALT in
    either orientation, on either strand (flips only for rows without an exact match, and never for
    strand-ambiguous pairs, where a flip cannot be told from a swap).

    target: vidx, chrom, pos, id, ref, alt. Rows: score, vidx, id, alt, w, effect_is_alt.
    """
    cols = ["score", "vidx", "id", "alt", "w", "effect_is_alt"]
    j = rows.with_row_index("row").join(target, on=["chrom", "pos"], how="inner")
    exact = j.filter(
        ((pl.col("ea") == pl.col("alt")) & (pl.col("oa") == pl.col("ref")))
        | ((pl.col("ea") == pl.col("ref")) & (pl.col("oa") == pl.col("alt")))
    ).with_columns(effect_is_alt=pl.col("ea") == pl.col("alt"))
    comp_ea = pl.col("ea").replace_strict(_COMPLEMENT, default=None)
    comp_oa = pl.col("oa").replace_strict(_COMPLEMENT, default=None)
    flipped = (
        j.filter(~pl.col("row").is_in(exact["row"].implode()) & (comp_ea != pl.col("oa")))
        .filter(((comp_ea == pl.col("alt")) & (comp_oa == pl.col("ref")))
                | ((comp_ea == pl.col("ref")) & (comp_oa == pl.col("alt"))))
        .with_columns(effect_is_alt=comp_ea == pl.col("alt"))
    )  # fmt: skip
    both = pl.concat([exact.select(cols), flipped.select(cols)])
    dup = both.select(pl.len().over("score", "vidx") > 1).to_series()
    kept = both.filter(~dup)
    g = exact.select(cols)
    return Match(
        rows=kept,
        counts=dict(kept.group_by("score").len().iter_rows()),
        gnomon_rows=g,
        gnomon_n=dict(g.unique(["score", "vidx"]).group_by("score").len().iter_rows()),
        n_duplicate_rows=int(dup.sum()),
        n_flip_rows=flipped.height,
    )


# ------------------------------------------------------------------------------------------------
# plink2's score file


def write_plink2_scores(m: pl.DataFrame, names: list[str], path: Path) -> dict[str, float]:
    """One plink2 score file (ID, A1 = ALT, one column per score; REF-effect weights negated); returns,
    per score, Σ 2w over its REF-effect rows, to add to plink2's SUM. Zeros are written as 0.

    This is how pgsc_calc feeds plink2 many scores at once; writing it is input preparation, not timed.
    """
    col = {n: i for i, n in enumerate(names)}
    m = m.sort("vidx")
    vidx_all = m["vidx"].to_numpy()
    c_all = m["score"].replace_strict(col, return_dtype=pl.Int64).to_numpy()
    w_all = np.where(m["effect_is_alt"].to_numpy(), 1.0, -1.0) * m["w"].to_numpy()
    const = dict(m.filter(~pl.col("effect_is_alt")).group_by("score").agg((2 * pl.col("w")).sum()).iter_rows())
    first = m.unique("vidx", keep="first", maintain_order=True)
    vidx, ids, alts = first["vidx"].to_numpy(), first["id"], first["alt"]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write("\t".join(["ID", "A1", *names]) + "\n")
        step = max(1, 5_000_000 // max(len(names), 1))  # ~5M cells per piece: bounded memory
        for lo in range(0, len(vidx), step):
            hi = min(lo + step, len(vidx))
            a, b = np.searchsorted(vidx_all, [vidx[lo], vidx[hi - 1] + 1])
            dense = np.zeros((hi - lo, len(names)))
            np.add.at(dense, (np.searchsorted(vidx[lo:hi], vidx_all[a:b]), c_all[a:b]), w_all[a:b])
            text = pl.DataFrame(dense, schema=names, orient="row").select(
                pl.when(pl.col(n) == 0).then(pl.lit("0")).otherwise(pl.col(n).cast(pl.String)).alias(n) for n in names
            )
            frame = pl.DataFrame({"ID": ids[lo:hi], "A1": alts[lo:hi]}).hstack(text)
            fh.write(frame.write_csv(separator="\t", include_header=False, quote_style="never"))
    os.replace(tmp, path)
    return const


def cached_plink2_scores(m: pl.DataFrame, names: list[str], run: Path) -> tuple[Path, dict[str, float]]:
    """write_plink2_scores once per distinct match (keyed by its content): big files are reused."""
    key = hashlib.sha256(f"{m.height}:{m.hash_rows(seed=1).sum()}:{names}".encode()).hexdigest()[:12]
    psf, meta = run / f"plink2_scores_{key}.tsv", run / f"plink2_scores_{key}.json"
    if not psf.exists() or not meta.exists():
        for old in run.glob("plink2_scores*"):
            old.unlink()
        meta.write_text(json.dumps(write_plink2_scores(m, names, psf)))
    return psf, json.loads(meta.read_text())


# ------------------------------------------------------------------------------------------------
# numpy sums


def pfile_comparison(prefix: Path, files: list[Path], run: Path) -> tuple[Match, Path, dict[str, float], list[str]]:
    """What every pfile workload compares with: the independent match of `files` against `prefix`,
    plink2's score file of it (cached under `run`) with its constants, and three scores to check
    against numpy (the smallest, the median and the largest)."""
    m = independent_match(read_score_rows(files), pvar_target(prefix))
    psf, const = cached_plink2_scores(m.rows, m.names, run)
    by_size = sorted(m.counts, key=m.counts.__getitem__)
    return m, psf, const, [by_size[0], by_size[len(by_size) // 2], by_size[-1]]


def numpy_sums(pgen: Path, m: pl.DataFrame, scores: list[str], sample_ids: list[str], missing: str,
               *, dosages: bool = False) -> pl.DataFrame:  # fmt: skip
    """Σ w × effect-allele dosage per sample, straight from the .pgen (pgenlib), for `scores`.

    missing: "zero" (a missing call contributes 0) or "mean" (2 × effect-allele frequency among the
    samples with a call at that variant). dosages: the .pgen's dosages (pgenlib `read_dosages_list`,
    float32, −9 for missing) instead of its hard calls.
    """
    import pgenlib

    sub = m.filter(pl.col("score").is_in(scores)).sort("vidx")
    r = pgenlib.PgenReader(str(pgen).encode())
    n = r.get_raw_sample_ct()
    out = {s: np.zeros(n) for s in scores}
    try:
        step = max(1, 25_000_000 // n)  # ~25M genotype cells per piece (a few hundred MB as float64)
        for lo in range(0, sub.height, step):
            part = sub[lo : lo + step]
            uniq, inv = np.unique(part["vidx"].to_numpy().astype(np.uint32), return_inverse=True)
            if dosages:
                g = np.empty((len(uniq), n), dtype=np.float32)
                r.read_dosages_list(uniq, g)
            else:
                g = np.empty((len(uniq), n), dtype=np.int8)
                r.read_list(uniq, g)
            g = g[inv].astype(np.float64)
            miss = g < 0
            d = np.where(part["effect_is_alt"].to_numpy()[:, None], g, 2 - g)
            if missing == "mean":
                mean = np.where(miss, 0, d).sum(1) / np.maximum((~miss).sum(1), 1)
                d = np.where(miss, mean[:, None], d)
            else:
                d[miss] = 0
            w = part["w"].to_numpy()
            sc = part["score"].to_numpy()
            for s in np.unique(sc):
                k = sc == s
                out[s] += w[k] @ d[k]
    finally:
        r.close()
    return pl.concat(pl.DataFrame({"sample_id": sample_ids, "score": s, "sum": out[s]}) for s in scores)


def one_sample_numpy_sums(pgen: Path, sample_index: int, sample_id: str, m: pl.DataFrame) -> pl.DataFrame:
    """numpy_sums for one sample of a pfile (the person a single-sample VCF was written from)."""
    import pgenlib

    r = pgenlib.PgenReader(str(pgen).encode(), sample_subset=np.array([sample_index], dtype=np.uint32))
    try:
        mm = m.sort("vidx")
        g = np.empty((mm.height, 1), dtype=np.int8)
        r.read_list(mm["vidx"].to_numpy().astype(np.uint32), g)
    finally:
        r.close()
    gg = g[:, 0].astype(np.float64)
    d = np.where(mm["effect_is_alt"].to_numpy(), gg, 2 - gg)
    return (
        mm.with_columns(c=pl.Series(d) * pl.col("w"))
        .group_by("score")
        .agg(pl.col("c").sum().alias("sum"))
        .select(pl.lit(sample_id).alias("sample_id"), "score", "sum")
    )


def vcf_numpy_sums(m: pl.DataFrame, target: pl.DataFrame, sample_id: str) -> pl.DataFrame:
    """Σ w × effect-allele dosage per score, from the single-sample VCF's calls as read by vcf_target."""
    mm = m.join(target.select("vidx", "dosage"), on="vidx")
    g = mm["dosage"].to_numpy().astype(np.float64)
    d = np.where(mm["effect_is_alt"].to_numpy(), g, 2 - g)
    return (
        mm.with_columns(c=pl.Series(d) * pl.col("w"))
        .group_by("score")
        .agg(pl.col("c").sum().alias("sum"))
        .select(pl.lit(sample_id).alias("sample_id"), "score", "sum")
    )


def agreement(ref: pl.DataFrame, other: pl.DataFrame) -> tuple[float, float, str]:
    """max |Δ|, max |Δ| / the score's largest |sum| over samples, and how many values were compared."""
    j = ref.join(other, on=["sample_id", "score"], how="inner", suffix="_o")
    scale = ref.group_by("score").agg(pl.col("sum").abs().max().alias("scale"))
    j = j.join(scale, on="score").with_columns(d=(pl.col("sum") - pl.col("sum_o")).abs())
    rel = (j["d"] / j["scale"].clip(lower_bound=1e-300)).max()
    note = f"{j.height:,} values" + ("" if j.height == ref.height else f" of {ref.height:,}!")
    return float(j["d"].max() or 0.0), float(rel or 0.0), note


# ------------------------------------------------------------------------------------------------
# each tool's sums (long: sample_id, score, sum) and what it says it matched


def prsgazer_batch_sums(out_dir: Path) -> pl.DataFrame:
    from prsgazer.engine.scoring.batch import read_result_meta

    parts = []
    for p in sorted(out_dir.glob("*.parquet")):
        acc = read_result_meta(p)["accession"]
        parts.append(pl.read_parquet(p, columns=["sample_id", "sum"]).with_columns(score=pl.lit(acc)))
    return pl.concat(parts).select("sample_id", "score", "sum")


def prsgazer_batch_matched(out_dir: Path) -> int:
    """Rows prsgazer matched, over every score (from each result's match summary)."""
    from prsgazer.engine.scoring.batch import read_result_meta

    return sum(int(read_result_meta(p)["summary"]["n_matched"]) for p in out_dir.glob("*.parquet"))


def prsgazer_tsv_sums(path: Path) -> pl.DataFrame:
    t = pl.read_csv(path, separator="\t", infer_schema_length=0)
    return t.select(pl.col("sample_id"), pl.col("pgs_id").alias("score"), pl.col("sum").cast(pl.Float64))


def prsgazer_tsv_matched(path: Path) -> int:
    t = pl.read_csv(path, separator="\t", infer_schema_length=0).unique("pgs_id")
    return int(t["n_matched"].cast(pl.Int64).sum())


def gnomon_sums(sscore: Path, n_matched: dict[str, int]) -> tuple[pl.DataFrame, int]:
    """gnomon's SUM per sample and score (AVG × variants used) and its total of missing calls.

    Its .sscore has `<score>_AVG` and `<score>_MISSING_PCT`: AVG = SUM / (n_matched − n_missing), with
    n_missing = MISSING_PCT × n_matched / 100 (a missing call contributes 0 to SUM).
    """
    t = pl.read_csv(sscore, separator="\t", comment_prefix="#REGION", infer_schema_length=0)
    t = t.rename({t.columns[0]: "sample_id"})
    parts, n_missing = [], 0
    for name, n in n_matched.items():
        avg = t[f"{name}_AVG"].cast(pl.Float64).to_numpy()
        miss = np.rint(t[f"{name}_MISSING_PCT"].cast(pl.Float64).to_numpy() * n / 100).astype(np.int64)
        n_missing += int(miss.sum())
        parts.append(pl.DataFrame({"sample_id": t["sample_id"], "score": name, "sum": avg * (n - miss)}))
    return pl.concat(parts), n_missing


def plink2_sums(sscore: Path, names: list[str], const: dict[str, float]) -> pl.DataFrame:
    """plink2's `<score>_SUM` (printed with 6 significant digits) plus the REF-effect constant."""
    t = pl.read_csv(sscore, separator="\t", infer_schema_length=0).rename(lambda c: c.lstrip("#"))
    return pl.concat(
        t.select(
            pl.col("IID").alias("sample_id"),
            pl.lit(n).alias("score"),
            (pl.col(f"{n}_SUM").cast(pl.Float64) + const.get(n, 0.0)).alias("sum"),
        )
        for n in names
    )


def log_count(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    return f"{int(found.group(1)):,}" if found else "?"


def plink2_processed(out: Path) -> str:
    """What plink2's log says it scored (variants in the union of the score columns)."""
    log = Path(f"{out}.log")
    text = log.read_text() if log.exists() else ""
    return "its log: " + log_count(text, r"--score: (\d+) variants processed") + " variants processed"


def gnomon_overlap(stderr: str) -> str:
    """What gnomon's log says it matched (variants; rows in its VCF path)."""
    return "its log: " + log_count(stderr, r"(\d+) overlapping (?:score )?variants") + " overlapping variants"
