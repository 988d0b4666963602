"""Consumer genotyping-array files (23andMe, AncestryDNA, MyHeritage, FamilyTreeDNA, LivingDNA; plain,
gzipped or zipped), recognised from their content. See docs/engine.md ("Consumer array files").

An array file lists one person's genotype as two letters on the + strand per assayed site (`AG`,
`--` for a no-call, `DD`/`II`/`DI` on indel probes), with no REF/ALT. So there is nothing to match
until the scoring rows are known: `ArraySource.for_rows(rows)` turns the sites the rows touch into
biallelic target variants, REF = the row's other allele and ALT = its effect allele (or their
complements when the letters are on the other strand), with the count of effect-allele letters as
the genotype. The matcher then applies its usual rules: strand-ambiguous rows are excluded by
default, flips follow the PGS Catalog calculator's priorities, and letters that fit neither the row's
alleles nor their complements leave the row unmatched. No-calls and indel probes are missing calls.
Sites the chip does not have are missing (the absent-site policy says `array`), never hom-ref.

The build comes from the file's header when it states one (`build 37`, `GRCh38`, …), else GRCh37 as
the companies use; positions beyond the build's chromosome ends contradict it (an InputError).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from prsgazer.engine.common import MISSING, chrom_expr, complement_expr
from prsgazer.engine.genotypes.build import BuildEvidence, check_positions
from prsgazer.engine.genotypes.source import VARIANT_SCHEMA, GenotypeSource
from prsgazer.errors import InputError

#: The formats recognised, by the name reported.
FORMATS = ("23andme", "ancestrydna", "myheritage", "ftdna", "livingdna")
_NO_CALL = {"--", "00", "0", "", "NC", "--/--", "??"}
_INDEL = {"D", "I"}


class ArrayFile(BaseModel):
    """A parsed array file: one row per assayed site, letters a1/a2 (null for a no-call or indel probe)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    format: str
    sample_id: str
    build: BuildEvidence
    sites: pl.DataFrame  # chrom pos rsid a1 a2 (a1/a2 uppercase letters, null when not called)
    n_no_calls: int
    n_indel_probes: int


def _text(path: Path) -> str:
    """The file's text: gunzipped, or the one text member of a zip."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = zlib.decompressobj(31).decompress(raw)
        except zlib.error as exc:
            raise InputError(f"gzip data is truncated or corrupt ({exc})", file=path) from exc
    elif raw[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                members = [m for m in z.namelist() if not m.endswith("/") and not m.startswith("__MACOSX")]
                if len(members) != 1:
                    raise InputError(f"the zip holds {len(members)} files; expected one raw-data file", file=path)
                raw = z.read(members[0])
        except zipfile.BadZipFile as exc:
            raise InputError(f"not a readable zip file ({exc})", file=path) from exc
    return raw.decode("utf-8", "replace").lstrip("\ufeff")


def sniff_array(path: str | Path) -> str | None:
    """The array format of a file from its first lines, or None when it is not one."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        head = _head(p)
    except (OSError, InputError):
        return None
    return _format_of(head)


def _head(p: Path, n: int = 1 << 15) -> str:
    with open(p, "rb") as fh:
        raw = fh.read(n)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = zlib.decompressobj(31).decompress(raw, n)
        except zlib.error:
            return ""
    elif raw[:4] == b"PK\x03\x04":
        return _text(p)[:n]
    return raw.decode("utf-8", "replace").lstrip("\ufeff")


def _format_of(head: str) -> str | None:
    lines = head.splitlines()
    comments = "\n".join(ln for ln in lines[:60] if ln.startswith("#")).lower()
    first = next((ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")), "")
    cols = [c.strip().strip('"').lower() for c in re.split(r"[\t,]", first)]
    if cols[:4] == ["rsid", "chromosome", "position", "allele1"] and "allele2" in cols:
        return "ancestrydna"
    if cols[:4] == ["rsid", "chromosome", "position", "result"]:
        return "myheritage" if "myheritage" in comments or "mhv1" in comments else "ftdna"
    header_comment = any(
        re.sub(r"\s+", " ", ln.lstrip("#").strip().lower()) == "rsid chromosome position genotype" for ln in lines[:60]
    )
    if "living dna" in comments or "livingdna" in comments:
        return "livingdna"
    if "23andme" in comments or header_comment:
        return "23andme"
    if len(cols) == 4 and cols[0].startswith(("rs", "i")) and re.fullmatch(r"[ACGTDI-]{1,2}", cols[3].upper() or "-"):
        return "23andme"  # no header at all: rsid chrom pos genotype
    return None


_BUILD_RE = [
    (re.compile(r"grch38|hg38|build\s*38|b38", re.I), "GRCh38"),
    (re.compile(r"grch37|hg19|build\s*37|b37", re.I), "GRCh37"),
    (re.compile(r"ncbi\s*36|hg18|build\s*36", re.I), "NCBI36"),
]


def _build(comments: str) -> BuildEvidence:
    for pattern, build in _BUILD_RE:
        m = pattern.search(comments)
        if m:
            return BuildEvidence(build=build, source="reference", detail=f"the file's header says {m.group(0)!r}")
    return BuildEvidence(
        build="GRCh37", source="default", detail="array files without a stated build are GRCh37 (the companies' build)"
    )


def read_array(path: str | Path, fmt: str | None = None) -> ArrayFile:
    """Parse an array file (any of FORMATS; detected when `fmt` is None)."""
    p = Path(path)
    text = _text(p)
    fmt = fmt or _format_of(text[: 1 << 15])
    if fmt not in FORMATS:
        raise InputError("not a consumer array file (23andMe, AncestryDNA, MyHeritage, FamilyTreeDNA, LivingDNA)",
                         file=p, hint="give a VCF, a plink prefix or one of these raw-data files")  # fmt: skip
    lines = text.splitlines()
    comments = "\n".join(ln for ln in lines if ln.startswith("#"))
    body_lines = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    first_data = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")), 0)
    sep = "," if fmt in ("myheritage", "ftdna") else "\t"
    header = [c.strip().strip('"').lower() for c in re.split(r"[\t,]", body_lines[0])] if body_lines else []
    has_header = bool(header) and header[0] == "rsid"
    data = "\n".join(body_lines[1:] if has_header else body_lines)
    n_cols = 5 if fmt == "ancestrydna" else 4
    try:
        frame = pl.read_csv(io.StringIO(data), separator=sep, has_header=False, quote_char='"', infer_schema=False,
                            new_columns=[f"c{k}" for k in range(n_cols)], truncate_ragged_lines=False)  # fmt: skip
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"cannot read the {fmt} rows ({exc})", file=p, line=first_data + 2) from exc
    if frame.width != n_cols:
        raise InputError(f"expected {n_cols} columns per row, found {frame.width}", file=p, line=first_data + 2)
    if fmt == "ancestrydna":
        a1, a2 = pl.col("c3").str.strip_chars().str.to_uppercase(), pl.col("c4").str.strip_chars().str.to_uppercase()
    else:
        g = pl.col("c3").str.strip_chars().str.to_uppercase().str.replace_all("/", "")
        a1 = g.str.slice(0, 1)
        a2 = pl.when(g.str.len_chars() == 1).then(g).otherwise(g.str.slice(1, 1))  # haploid calls (X, Y, MT)
    sites = frame.select(
        chrom_expr(pl.col("c1").str.strip_chars()).alias("chrom"),
        pl.col("c2").str.strip_chars().cast(pl.Int64, strict=False).alias("pos"),
        pl.col("c0").str.strip_chars().alias("rsid"),
        a1.alias("a1"),
        a2.alias("a2"),
    )
    bad = sites.get_column("pos").is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(f"position {frame['c2'][i]!r} is not an integer", file=p,
                         line=first_data + (2 if has_header else 1) + i, field="position")  # fmt: skip
    called = pl.col("a1").is_in(["A", "C", "G", "T"]) & pl.col("a2").is_in(["A", "C", "G", "T"])
    indel = pl.col("a1").is_in(list(_INDEL)) | pl.col("a2").is_in(list(_INDEL))
    counts = sites.select(indel.sum().alias("indel"), (~called & ~indel).sum().alias("nocall")).row(0)
    sites = sites.with_columns(
        pl.when(called).then(pl.col("a1")).otherwise(None).alias("a1"),
        pl.when(called).then(pl.col("a2")).otherwise(None).alias("a2"),
    )
    build = _build(comments)
    maxima = dict(sites.group_by("chrom").agg(pl.col("pos").max()).iter_rows())
    contradiction = check_positions(build.build, maxima)
    if contradiction:
        raise InputError(contradiction, file=p, field="genome build",
                         hint="the file's positions do not fit its build; check the file or its header")  # fmt: skip
    return ArrayFile(path=p, format=fmt, sample_id=array_sample_id(p.name), build=build, sites=sites,
                     n_no_calls=int(counts[1]), n_indel_probes=int(counts[0]))  # fmt: skip


def array_sample_id(name: str) -> str:
    """An array file names no person: the file name without its extensions stands for them."""
    for suffix in (".gz", ".zip", ".txt", ".csv", ".tsv"):
        name = name.removesuffix(suffix)
    return name


def _count(letter: str) -> pl.Expr:
    """1 where the letter is the target's ALT (the effect allele, on the letters' strand)."""
    return (pl.col(letter) == pl.col("alt")).cast(pl.Int8)


class ArraySource(GenotypeSource):
    """One person's array genotypes. `variants` is empty until `for_rows` builds the target variants
    of the scoring rows at hand (see the module docstring)."""

    kind = "array"

    def __init__(self, array: ArrayFile) -> None:
        self.array = array
        self.path = array.path
        self.source_path = array.path
        self.build = array.build
        self.samples = pl.DataFrame(
            {"sample_id": [array.sample_id], "founder": [True]}, schema={"sample_id": pl.String, "founder": pl.Boolean}
        )
        self.variants = pl.DataFrame(schema=VARIANT_SCHEMA)
        self._gt = np.zeros((0, 1), dtype=np.int8)

    def for_rows(self, rows: pl.DataFrame) -> ArraySource:
        """A source whose variants are the scoring rows' alleles at the sites the array assayed."""
        scorable = rows.filter(pl.col("unscorable").is_null() & pl.col("other_allele").is_not_null())
        wanted = scorable.select(
            pl.col("chr_name").alias("chrom"), pl.col("chr_position").alias("pos"),
            pl.col("effect_allele").alias("ea"), pl.col("other_allele").alias("oa"),
        ).unique()  # fmt: skip
        at = wanted.join(self.array.sites, on=["chrom", "pos"], how="inner")
        ea, oa = pl.col("ea"), pl.col("oa")
        direct = ((pl.col("a1") == ea) | (pl.col("a1") == oa)) & ((pl.col("a2") == ea) | (pl.col("a2") == oa))
        cea, coa = complement_expr("ea"), complement_expr("oa")
        flipped = (pl.col("a1") == cea) | (pl.col("a1") == coa)
        flipped = flipped & ((pl.col("a2") == cea) | (pl.col("a2") == coa))
        target = (
            at.with_columns(cea.alias("cea"), coa.alias("coa"))
            .with_columns(
                pl.when(pl.col("a1").is_null()).then(pl.lit("nocall"))
                .when(direct).then(pl.lit("direct"))
                .when(flipped).then(pl.lit("flip"))
                .otherwise(None).alias("how")
            )
            .drop_nulls("how")
            .with_columns(
                # a no-call: the row's own alleles, the genotype missing
                pl.when(pl.col("how") == "flip").then(pl.col("coa")).otherwise(oa).alias("ref"),
                pl.when(pl.col("how") == "flip").then(pl.col("cea")).otherwise(ea).alias("alt"),
            )
            .with_columns(
                pl.when(pl.col("how") == "nocall").then(pl.lit(MISSING))
                .otherwise(_count("a1") + _count("a2"))
                .cast(pl.Int8).alias("gt")
            )
            .unique(["chrom", "pos", "ref", "alt"], keep="first")
            .sort("chrom", "pos", "ref", "alt")
        )  # fmt: skip
        out = ArraySource(self.array)
        out.variants = target.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("vidx"), "chrom", "pos", pl.col("rsid").alias("id"), "ref",
            "alt", pl.lit(1, dtype=pl.Int8).alias("allele_idx"), pl.lit(False).alias("is_multiallelic"),
        )  # fmt: skip
        out._gt = target.get_column("gt").to_numpy().reshape(-1, 1)
        return out

    def read(self, vidx: np.ndarray) -> np.ndarray:
        return self._gt[np.asarray(vidx, dtype=np.int64)]
