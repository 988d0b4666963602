"""Absent-site policy: what a scored position missing from a VCF means. See docs/engine.md
("Absent sites").

A single person's VCF usually lists variant sites only. Whether an absent site is homozygous
reference is decided explicitly and reported:

- `gvcf` (detected: reference blocks / `<NON_REF>`): positions inside a reference block whose call
  passed the filters are hom-ref; positions outside every record and block are not covered.
- `wgs` (declared, or detected: one sample, ≥ 1,000,000 variant-only records, almost no 0/0 calls):
  every absent position is hom-ref.
- `wes`, `array`, `unknown`: absent positions are unknown; they stay unmatched, as in pgsc_calc.
- `genotyped` (pfile/bfile, or a VCF that lists hom-ref calls): absent means not assayed.

Scoring a hom-ref site needs the reference base at that position, which a VCF does not carry for
absent sites: it comes from `--reference` (an indexed FASTA, or any variant table such as a
panel's .pvar). Resolved sites become extra target rows (`source = absent_homref`, genotype 0)
that go through the ordinary matcher; unresolved ones are counted and reported.
"""

from __future__ import annotations

import contextlib
import hashlib
from enum import StrEnum
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from prsgazer.cid import cid_of_bytes
from prsgazer.engine.common import MISSING, complement_expr
from prsgazer.engine.genotypes.open import genotype_kind, open_genotypes
from prsgazer.engine.genotypes.plink import read_bim, read_pvar
from prsgazer.engine.genotypes.source import GenotypeSource, split_multiallelic
from prsgazer.engine.genotypes.table import ParquetSource
from prsgazer.errors import InputError, OutputError
from prsgazer.sealed import read_verified_bytes, write_sealed_bytes

WGS_MIN_RECORDS = 1_000_000
WGS_MAX_HOMREF_FRACTION = 0.01


class Coverage(StrEnum):
    GVCF = "gvcf"
    WGS = "wgs"
    WES = "wes"
    ARRAY = "array"
    UNKNOWN = "unknown"
    GENOTYPED = "genotyped"


#: What an absent scored position means under each coverage (any other: "unknown").
ABSENT_MEANS = {
    Coverage.GENOTYPED: "not_assayed",
    Coverage.GVCF: "hom_ref_in_reference_blocks",
    Coverage.WGS: "hom_ref",
}


def absent_meaning(coverage: Coverage | str) -> str:
    """hom_ref | hom_ref_in_reference_blocks | unknown | not_assayed, for `coverage`."""
    return ABSENT_MEANS.get(Coverage(coverage), "unknown")


class AbsentSiteReport(BaseModel):
    """The decision and what it did."""

    coverage: Coverage
    how: str = Field(description="declared, detected, or default, with the evidence")
    absent_means: str = Field(description="hom_ref | hom_ref_in_reference_blocks | unknown | not_assayed")
    reference: str | None = None
    n_absent_positions: int = 0
    n_homref_resolved: int = 0
    n_homref_unresolved: int = 0
    n_not_covered: int = 0
    n_block_no_call: int = 0

    def describe(self) -> str:
        text = f"absent sites: coverage={self.coverage.value} ({self.how}); absent means {self.absent_means}"
        if self.absent_means.startswith("hom_ref"):
            text += f"; {self.n_homref_resolved} scored positions filled as hom-ref"
            if self.n_homref_unresolved:
                where = "give --reference FASTA or variant table" if self.reference is None else "not in the reference"
                text += f", {self.n_homref_unresolved} left unmatched (reference base unknown: {where})"
            if self.coverage is Coverage.GVCF:
                text += (
                    f", {self.n_not_covered} outside any gVCF record, "
                    f"{self.n_block_no_call} in no-call reference blocks"
                )
        elif self.n_absent_positions:
            text += f"; {self.n_absent_positions} scored positions absent and left unmatched"
        return text


def decide_coverage(source: GenotypeSource, declared: Coverage | str | None) -> tuple[Coverage, str]:
    """The coverage to assume and why."""
    if source.kind == "array":
        return Coverage.ARRAY, "consumer genotyping array: sites it does not list were not assayed (missing)"
    if not isinstance(source, ParquetSource):
        if declared not in (None, Coverage.GENOTYPED, "genotyped"):
            return Coverage(declared), "declared"
        return Coverage.GENOTYPED, f"{source.kind}: absent variants were not assayed"
    summary = source.info.get("summary", {})
    if summary.get("is_gvcf") or source.blocks is not None:
        if declared not in (None, Coverage.GVCF, "gvcf"):
            return Coverage(declared), "declared (overrides the detected gVCF)"
        return Coverage.GVCF, "detected: gVCF reference blocks"
    if declared is not None:
        return Coverage(declared), "declared"
    n_rec = int(summary.get("n_records", 0))
    if source.n_samples == 1 and n_rec >= WGS_MIN_RECORDS:
        g = source.all_calls()  # the whole (preloaded) matrix: no 5M-row index and gather (30 ms)
        homref = float(np.count_nonzero(g == 0) / g.size) if g.size else 0.0
        if homref <= WGS_MAX_HOMREF_FRACTION:
            return Coverage.WGS, f"detected: {n_rec} variant-only records, {homref:.2%} hom-ref calls"
    if source.n_samples > 1 or float((source.all_calls()[:100_000] == 0).mean()) > 0.2:
        return Coverage.GENOTYPED, "default: the VCF lists hom-ref calls, absent sites were not assayed"
    return Coverage.UNKNOWN, "default: variant-only VCF, coverage not declared (use --coverage wgs|wes|array)"


# --------------------------------------------------------------------------------------------------
# reference bases


class FastaReference:
    """Reference bases from an uncompressed FASTA, through its .fai index.

    The user's `.fai` is used when present; otherwise the index is built by one pass over the FASTA
    and kept under `<cache_dir>/fasta/` (keyed by the FASTA's path, size and mtime; sealed with its
    CID, `index_cid`), never written next to the user's file.
    """

    def __init__(self, path: str | Path, cache_dir: Path | None = None) -> None:
        self.path = Path(path)
        #: CID of the cached index it was read from or written to (None: the user's .fai, or no cache).
        self.index_cid: str | None = None
        fai = self.path.with_name(self.path.name + ".fai")
        text = fai.read_text() if fai.exists() else self._cached_index(cache_dir)
        self.index: dict[str, tuple[int, int, int, int]] = {}
        for line in text.splitlines():
            name, length, offset, bases, width = line.split("\t")[:5]
            chrom = name[3:] if name.lower().startswith("chr") else name
            chrom = {"M": "MT"}.get(chrom.upper(), chrom.upper())
            self.index[chrom] = (int(length), int(offset), int(bases), int(width))
        self._arr: np.ndarray = np.memmap(self.path, dtype=np.uint8, mode="r")

    def _cached_index(self, cache_dir: Path | None) -> str:
        if cache_dir is None:
            return self._build_index()
        st = self.path.stat()
        stamp = f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        cached = Path(cache_dir) / "fasta" / f"{hashlib.sha256(stamp.encode()).hexdigest()[:32]}.fai"
        data = read_verified_bytes(cached, what="FASTA index cache entry")
        if data is not None:
            with contextlib.suppress(UnicodeDecodeError):
                self.index_cid = cid_of_bytes(data)
                return data.decode()
        text = self._build_index()
        try:
            self.index_cid = write_sealed_bytes(cached, text.encode())
        except (OSError, OutputError):  # the index is an optimisation: a read-only cache only costs a pass
            pass
        return text

    def _build_index(self) -> str:
        with open(self.path, "rb") as fh:
            if fh.read(2)[:1] != b">":
                raise InputError("not a FASTA file (or gzip-compressed: give an uncompressed one)", file=self.path)
        rows: list[str] = []
        name, length, offset, bases, width = None, 0, 0, 0, 0
        pos = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                if line.startswith(b">"):
                    if name is not None:
                        rows.append(f"{name}\t{length}\t{offset}\t{bases}\t{width}")
                    name = line[1:].split()[0].decode()
                    length, offset, bases, width = 0, pos + len(line), 0, 0
                else:
                    if bases == 0:
                        bases, width = len(line.rstrip(b"\r\n")), len(line)
                    length += len(line.rstrip(b"\r\n"))
                pos += len(line)
        if name is not None:
            rows.append(f"{name}\t{length}\t{offset}\t{bases}\t{width}")
        return "\n".join(rows) + "\n"

    def bases(self, chrom: pl.Series, pos: pl.Series) -> pl.Series:
        """The reference base at each (chrom, 1-based pos); None off the sequence."""
        c = chrom.to_list()
        p = pos.to_numpy().astype(np.int64)
        out = np.full(len(c), ord("N"), dtype=np.uint8)
        valid = np.zeros(len(c), dtype=bool)
        chrom_arr = np.array(c, dtype=object)
        for name in set(c):
            if name not in self.index:
                continue
            length, offset, nb, width = self.index[name]
            sel = np.flatnonzero(chrom_arr == name)
            pp = p[sel] - 1
            ok = (pp >= 0) & (pp < length)
            where = offset + (pp // nb) * width + pp % nb
            out[sel[ok]] = self._arr[where[ok]]
            valid[sel[ok]] = True
        text = out.tobytes().decode("ascii", "replace").upper()
        return pl.Series([ch if ok else None for ch, ok in zip(text, valid.tolist(), strict=True)], dtype=pl.String)

    def close(self) -> None:
        self._arr = np.zeros(0, dtype=np.uint8)  # drops the memory map


def load_reference(path: str | Path, cache_dir: Path | None = None) -> FastaReference | pl.DataFrame:
    """A FASTA (→ FastaReference) or any variant table giving REF at sites: a .pvar/.pvar.zst, a
    .bim, a VCF, or a plink prefix (→ its split variant table)."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".fa", ".fasta", ".fna")):
        if not p.exists():
            raise InputError("reference FASTA does not exist", file=p)
        return FastaReference(p, cache_dir)
    if name.endswith((".pvar", ".pvar.zst", ".bim")) and p.is_file():
        sites = read_bim(p) if name.endswith(".bim") else read_pvar(p)[0]
        return split_multiallelic(sites).select("chrom", "pos", "ref", "alt")
    try:
        genotype_kind(p)
    except InputError:
        raise InputError(
            "--reference must be an uncompressed FASTA (.fa/.fasta/.fna, with or without .fai) or a variant "
            "table (.pvar, .pvar.zst, .bim, a VCF, or a plink prefix)",
            file=p,
        ) from None
    with open_genotypes(p, cache_dir=cache_dir, dosage_fields=()) as src:
        return src.variants.select("chrom", "pos", "ref", "alt")


# --------------------------------------------------------------------------------------------------
# filling absent positions


class ExtendedSource(GenotypeSource):
    """A source plus extra rows whose genotypes are given (hom-ref 0 or MISSING per sample)."""

    def __init__(self, base: GenotypeSource, extra: pl.DataFrame, extra_gt: np.ndarray) -> None:
        self.base = base
        self.path = base.path
        self.kind = base.kind
        self.samples = base.samples
        self.build = base.build
        self.dosage_source = base.dosage_source
        self._n_base = base.variants.height
        extra = extra.with_columns((pl.int_range(pl.len(), dtype=pl.UInt32) + self._n_base).alias("vidx"))
        self.variants = pl.concat(
            [
                base.variants.with_columns(pl.lit("target").alias("source")),
                extra.select(*base.variants.columns, "source"),
            ]
        )
        self._extra_gt = extra_gt

    def read(self, vidx: np.ndarray) -> np.ndarray:
        vidx = np.asarray(vidx, dtype=np.int64)
        out = np.empty((len(vidx), self.n_samples), dtype=np.int8)
        base = vidx < self._n_base
        if base.any():
            out[base] = self.base.read(vidx[base])
        if (~base).any():
            out[~base] = self._extra_gt[vidx[~base] - self._n_base]
        return out

    def multiallelic_rows(self) -> np.ndarray:
        # rows added for absent positions are hom-ref sites of their own, whatever their ALT
        return np.concatenate([self.base.multiallelic_rows(), np.zeros(self.variants.height - self._n_base, bool)])

    def read_dosages(self, vidx: np.ndarray) -> np.ndarray:
        vidx = np.asarray(vidx, dtype=np.int64)
        out = np.empty((len(vidx), self.n_samples), dtype=np.float32)
        base = vidx < self._n_base
        if base.any():
            out[base] = self.base.read_dosages(vidx[base])
        if (~base).any():
            out[~base] = self._extra_gt[vidx[~base] - self._n_base]
        return out

    def close(self) -> None:
        self.base.close()


def absent_positions(scores: pl.DataFrame, variants: pl.DataFrame) -> pl.DataFrame:
    """Distinct (chrom, pos) of scorable rows that no target row has, via sorted integer keys
    (chromosome code · 2³³ + position) and a merge anti-join."""
    scorable = scores.filter(pl.col("unscorable").is_null())
    chroms = list(
        dict.fromkeys(
            variants.get_column("chrom").unique(maintain_order=True).to_list()
            + scorable.get_column("chr_name").unique(maintain_order=True).to_list()
        )
    )
    enum = pl.Enum(chroms)

    def key(chrom: str, pos: str) -> pl.Expr:
        return (pl.col(chrom).cast(enum).to_physical().cast(pl.Int64) * (1 << 33) + pl.col(pos)).alias("_key")

    wanted = scorable.select(key("chr_name", "chr_position")).unique().sort("_key")
    present = variants.select(key("chrom", "pos"))
    if not present.get_column("_key").is_sorted():
        present = present.sort("_key")
    gone = wanted.with_columns(pl.col("_key").set_sorted()).join(
        present.with_columns(pl.col("_key").set_sorted()), on="_key", how="anti"
    )
    k = gone.get_column("_key")
    return pl.DataFrame(
        {
            "chrom": pl.Series(chroms, dtype=pl.String).gather(k // (1 << 33)),
            "pos": (k % (1 << 33)).cast(pl.Int64),
        }
    )


def count_absent(report: AbsentSiteReport, unmatched: pl.DataFrame) -> AbsentSiteReport:
    """Fill the report's counts from the matcher's unmatched rows (`position_absent`) when
    `fill_absent_sites` did not look at absent positions itself."""
    if report.n_absent_positions or report.n_homref_resolved or report.n_not_covered:
        return report
    gone = unmatched.filter(pl.col("position_absent")).select("chr_name", "chr_position").unique().height
    out = report.model_copy(update={"n_absent_positions": gone})
    if report.coverage is Coverage.WGS:
        out.n_homref_unresolved = gone
    elif report.coverage is Coverage.GVCF:
        out.n_not_covered = gone
    return out


def fill_absent_sites(
    source: GenotypeSource,
    scores: pl.DataFrame,
    coverage: Coverage,
    how: str,
    reference: FastaReference | pl.DataFrame | None = None,
    reference_name: str | None = None,
) -> tuple[GenotypeSource, AbsentSiteReport]:
    """Apply the absent-site policy: returns the source to match against and the report."""
    blocks = getattr(source, "blocks", None)
    if coverage is Coverage.GENOTYPED or (reference is None and (coverage is not Coverage.GVCF or blocks is None)):
        # Nothing can be filled in: absent rows stay unmatched; `count_absent` reports them after matching.
        return source, AbsentSiteReport(
            coverage=coverage, how=how, absent_means=absent_meaning(coverage), reference=reference_name
        )
    absent = absent_positions(scores, source.variants)
    if coverage in (Coverage.WES, Coverage.ARRAY, Coverage.UNKNOWN):
        return source, AbsentSiteReport(
            coverage=coverage, how=how, absent_means="unknown", n_absent_positions=absent.height
        )
    report = AbsentSiteReport(
        coverage=coverage,
        how=how,
        absent_means="hom_ref_in_reference_blocks" if coverage is Coverage.GVCF else "hom_ref",
        reference=reference_name,
        n_absent_positions=absent.height,
    )
    n = source.n_samples
    if coverage is Coverage.GVCF:
        if blocks is None or absent.height == 0:
            report.n_not_covered = absent.height
            return source, report
        blk = blocks.with_row_index("bidx").sort("chrom", "start")
        hits = (
            absent.sort("chrom", "pos")
            .join_asof(blk, left_on="pos", right_on="start", by="chrom", strategy="backward", check_sortedness=False)
            .with_columns((pl.col("end").is_not_null() & (pl.col("pos") <= pl.col("end"))).alias("inside"))
        )
        report.n_not_covered = int((~hits.get_column("inside")).sum())
        inside = hits.filter(pl.col("inside"))
        block_gt = (
            inside.get_column("gt").to_numpy().reshape(inside.height, n)
            if inside.height
            else np.zeros((0, n), dtype=np.int8)
        )
        called = (block_gt != MISSING).any(axis=1) if inside.height else np.zeros(0, dtype=bool)
        report.n_block_no_call = int((~called).sum())
        homref_pos = inside.select("chrom", "pos", pl.Series("row", np.arange(inside.height)))
        site_gt = block_gt
    else:
        homref_pos = absent.with_columns(pl.int_range(pl.len()).alias("row"))
        site_gt = np.zeros((absent.height, n), dtype=np.int8)
    if homref_pos.height == 0:
        return source, report
    extra = _virtual_rows(scores, homref_pos, reference)
    resolved_pos = extra.select("chrom", "pos").unique().height if extra.height else 0
    report.n_homref_resolved = resolved_pos
    report.n_homref_unresolved = homref_pos.height - resolved_pos
    if extra.height == 0:
        return source, report
    gt = site_gt[extra.get_column("row").to_numpy()]
    rows = extra.select(
        pl.lit(0, dtype=pl.UInt32).alias("vidx"),
        "chrom",
        "pos",
        pl.lit(".").alias("id"),
        "ref",
        "alt",
        pl.lit(1, dtype=pl.Int8).alias("allele_idx"),
        pl.lit(False).alias("is_multiallelic"),
        pl.lit("absent_homref").alias("source"),
    )
    return ExtendedSource(source, rows, gt), report


def _virtual_rows(
    scores: pl.DataFrame, sites: pl.DataFrame, reference: FastaReference | pl.DataFrame | None
) -> pl.DataFrame:
    """Target rows (chrom, pos, ref, alt, row) for hom-ref sites whose reference base is known."""
    if reference is None:
        return pl.DataFrame(
            schema={"chrom": pl.String, "pos": pl.Int64, "ref": pl.String, "alt": pl.String, "row": pl.Int64}
        )
    if isinstance(reference, pl.DataFrame):
        return (
            sites.join(reference, on=["chrom", "pos"], how="inner")
            .select("chrom", "pos", "ref", "alt", pl.col("row").cast(pl.Int64))
            .unique(maintain_order=True)
        )
    ref = reference.bases(sites.get_column("chrom"), sites.get_column("pos"))
    s = sites.with_columns(ref.alias("ref")).filter(pl.col("ref").is_in(["A", "C", "G", "T"]))
    rows = (
        scores.filter(pl.col("unscorable").is_null())
        .select(
            pl.col("chr_name").alias("chrom"),
            pl.col("chr_position").alias("pos"),
            pl.col("effect_allele").alias("ea"),
            pl.col("other_allele").alias("oa"),
        )
        .join(s, on=["chrom", "pos"], how="inner")
        .with_columns(complement_expr("ea").alias("eaf"), complement_expr("oa").alias("oaf"))
        .with_columns(
            pl.when(pl.col("oa").is_null())
            .then(
                # effect allele is REF (either strand): no ALT needed; else ALT = the effect allele
                pl.when((pl.col("ea") == pl.col("ref")) | (pl.col("eaf") == pl.col("ref")))
                .then(pl.lit("."))
                .otherwise(pl.col("ea"))
            )
            .when(pl.col("ref") == pl.col("ea"))
            .then(pl.col("oa"))
            .when(pl.col("ref") == pl.col("oa"))
            .then(pl.col("ea"))
            .when(pl.col("ref") == pl.col("eaf"))
            .then(pl.col("oaf"))
            .when(pl.col("ref") == pl.col("oaf"))
            .then(pl.col("eaf"))
            .otherwise(None)
            .alias("alt")
        )
        .filter(pl.col("alt").is_not_null())
    )
    return rows.select("chrom", "pos", "ref", "alt", pl.col("row").cast(pl.Int64)).unique(maintain_order=True)
