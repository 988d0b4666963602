"""Genotype access: one small interface over plink2 pfiles, plink1 bfiles and normalised VCFs.

See docs/engine.md ("Genotypes"). A `GenotypeSource` has a variant table (`.variants`, one row per
(site, ALT allele): multi-allelic sites are split, `vidx` is the row index), a sample table
(`.samples`) and `.read(vidx) -> int8 array (len(vidx), n_samples)` of ALT-allele counts with
`MISSING` (-9) for missing calls. Callers read any subset of variants on demand, so a 1M-variant
panel can be scored chunk by chunk. VCFs are first normalised to parquet by `engine.vcf`.
"""

from __future__ import annotations

import hashlib
import io
import json
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import pgenlib
import polars as pl
from pydantic import BaseModel, Field

from prsgazer.engine.build import BuildEvidence, detect_build
from prsgazer.errors import InputError


class QualityFilters(BaseModel):
    """Which VCF calls to trust. A failing record or call becomes a missing call (not an absent site)."""

    filter_pass: list[str] | None = Field(
        default_factory=lambda: ["PASS", "."],
        description="Accepted FILTER values; None accepts any.",
    )
    min_qual: float | None = None
    min_dp: int | None = None
    min_gq: int | None = None

    def key(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


#: Missing-call code in genotype arrays (pgenlib's convention, so pgen reads need no conversion).
MISSING: int = -9

#: Columns of every `.variants` frame.
VARIANT_SCHEMA: dict[str, pl.DataType] = {
    "vidx": pl.UInt32(),
    "chrom": pl.String(),
    "pos": pl.Int64(),
    "id": pl.String(),
    "ref": pl.String(),
    "alt": pl.String(),
    "allele_idx": pl.Int8(),  # which ALT of the site this row is (1-based)
    "is_multiallelic": pl.Boolean(),
}
_CHROM_ALIASES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}


def chrom_expr(col: str | pl.Expr) -> pl.Expr:
    """Normalised chromosome names: no 'chr' prefix, upper case, 23→X, 24→Y, M→MT."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.str.to_uppercase().str.strip_prefix("CHR").replace(_CHROM_ALIASES)


class GenotypeSource(ABC):
    """Variants × samples genotypes, read by variant subsets."""

    path: Path
    kind: str
    variants: pl.DataFrame
    samples: pl.DataFrame  # sample_id (str), founder (bool)
    build: BuildEvidence

    @property
    def n_samples(self) -> int:
        return self.samples.height

    @abstractmethod
    def read(self, vidx: np.ndarray) -> np.ndarray:
        """ALT-allele counts (int8; MISSING for missing), shape (len(vidx), n_samples)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release file handles."""

    def __enter__(self) -> GenotypeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_multiallelic(frame: pl.DataFrame) -> pl.DataFrame:
    """Site table (chrom, pos, id, ref, alt with comma-separated ALTs, record) → one row per ALT."""
    return (
        frame.with_columns(pl.col("alt").str.split(","))
        .with_columns(
            (pl.col("alt").list.len() > 1).alias("is_multiallelic"),
            pl.int_ranges(1, pl.col("alt").list.len() + 1, dtype=pl.Int8).alias("allele_idx"),
        )
        .explode("alt", "allele_idx")
        .with_row_index("vidx")
        .with_columns(pl.col("vidx").cast(pl.UInt32))
    )


# --------------------------------------------------------------------------------------------------
# plink2 pfile / plink1 bfile


def _read_table_lines(path: Path) -> tuple[list[str], bytes]:
    """Split a text table into its '##' header lines and the rest (bytes). Handles .zst."""
    raw = path.read_bytes()
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    meta: list[str] = []
    pos = 0
    while raw.startswith(b"##", pos):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        meta.append(raw[pos:end].decode("utf-8", "replace").rstrip("\r"))
        pos = end + 1
    return meta, raw[pos:]


def read_pvar(path: Path) -> tuple[pl.DataFrame, list[str]]:
    """A .pvar (or header-less .bim-like pvar) as a site table with `record` = pgen variant index."""
    meta, body = _read_table_lines(path)
    if body.startswith(b"#CHROM"):
        first_nl = body.find(b"\n")
        cols = body[1:first_nl].decode().rstrip("\r").split("\t")
        frame = pl.read_csv(
            io.BytesIO(body[first_nl + 1 :]),
            separator="\t",
            has_header=False,
            new_columns=cols,
            schema={c: pl.String for c in cols},
            quote_char=None,
        )
        need = ["CHROM", "POS", "ID", "REF", "ALT"]
        missing = [c for c in need if c not in cols]
        if missing:
            raise InputError(f"pvar header lacks column(s) {missing}", file=path, line=len(meta) + 1)
        frame = frame.select(
            pl.col("CHROM").alias("chrom"),
            pl.col("POS").alias("pos"),
            pl.col("ID").alias("id"),
            pl.col("REF").alias("ref"),
            pl.col("ALT").alias("alt"),
        )
        first_line = len(meta) + 2
    else:  # header-less pvar = bim column order
        frame = pl.read_csv(
            io.BytesIO(body),
            separator="\t",
            has_header=False,
            new_columns=["chrom", "id", "cm", "pos", "alt", "ref"],
            schema={c: pl.String for c in ["chrom", "id", "cm", "pos", "alt", "ref"]},
            quote_char=None,
        ).select("chrom", "pos", "id", "ref", "alt")
        first_line = len(meta) + 1
    return _finish_sites(frame, path, first_line), meta


def read_bim(path: Path) -> pl.DataFrame:
    """A .bim as a site table (A1 = ALT, A2 = REF, as plink2 loads it)."""
    try:
        frame = pl.read_csv(
            path,
            separator="\t",
            has_header=False,
            new_columns=["chrom", "id", "cm", "pos", "alt", "ref"],
            schema={c: pl.String for c in ["chrom", "id", "cm", "pos", "alt", "ref"]},
            quote_char=None,
        )
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"not a tab-separated .bim file ({exc})", file=path) from exc
    return _finish_sites(frame.select("chrom", "pos", "id", "ref", "alt"), path, 1)


def _finish_sites(frame: pl.DataFrame, path: Path, first_line: int) -> pl.DataFrame:
    pos = frame.get_column("pos").cast(pl.Int64, strict=False)
    bad = pos.is_null() | (pos < 0)
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(
            f"position {frame.get_column('pos')[i]!r} is not an integer",
            file=path,
            line=first_line + i,
            field="POS",
        )
    for col in ("ref", "alt"):
        vals = frame.get_column(col)
        bad = vals.is_null()
        if bad.any():
            i = int(bad.arg_true()[0])
            raise InputError("missing allele", file=path, line=first_line + i, field=col.upper())
    frame = frame.with_columns(
        chrom_expr("chrom").alias("chrom"),
        pos.alias("pos"),
        pl.col("ref").str.to_uppercase(),
        pl.col("alt").str.to_uppercase(),
    ).with_row_index("record")
    return frame


def read_psam(path: Path) -> pl.DataFrame:
    """Samples of a .psam: sample_id (IID, or FID_IID when IIDs repeat), founder (no PAT and MAT)."""
    text = path.read_text()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise InputError("empty .psam file", file=path)
    while lines and lines[0].startswith("##"):
        lines.pop(0)
    if lines[0].startswith("#"):
        cols = lines[0][1:].split("\t")
        body = lines[1:]
    else:  # header-less psam = fam layout
        cols = ["FID", "IID", "PAT", "MAT", "SEX", "PHENO1"]
        body = lines
    if "IID" not in cols:
        raise InputError(".psam header has no IID column", file=path, line=1, field="IID")
    rows = [ln.split("\t") for ln in body]
    for i, r in enumerate(rows):
        if len(r) < len(cols):
            raise InputError(f"row has {len(r)} fields, header has {len(cols)}", file=path, line=i + 2)
    get = {c: [r[k] for r in rows] for k, c in enumerate(cols)}
    return _samples_frame(get.get("FID"), get["IID"], get.get("PAT"), get.get("MAT"))


def read_fam(path: Path) -> pl.DataFrame:
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    for i, r in enumerate(rows):
        if len(r) < 6:
            raise InputError(f".fam row has {len(r)} fields, expected 6", file=path, line=i + 1)
    return _samples_frame([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])


def _samples_frame(fid: list[str] | None, iid: list[str], pat: list[str] | None, mat: list[str] | None) -> pl.DataFrame:
    ids = iid
    if len(set(iid)) != len(iid) and fid is not None:
        ids = [f"{f}_{i}" for f, i in zip(fid, iid, strict=True)]
    # plink2 counts a sample as a founder when both parent IDs are missing ('0').
    pat = pat or ["0"] * len(iid)
    mat = mat or ["0"] * len(iid)
    founder = [p in ("0", "") and m in ("0", "") for p, m in zip(pat, mat, strict=True)]
    return pl.DataFrame({"sample_id": ids, "founder": founder}, schema={"sample_id": pl.String, "founder": pl.Boolean})


class PgenSource(GenotypeSource):
    """plink2 .pgen/.pvar/.psam or plink1 .bed/.bim/.fam, read with pgenlib."""

    def __init__(
        self,
        prefix: str | Path,
        kind: str,
        *,
        sites: pl.DataFrame | None = None,
        meta: list[str] | None = None,
    ) -> None:
        """Open a pfile (`kind="pfile"`) or bfile. `sites`/`meta`: an already parsed variant table
        (`read_pvar`'s output, e.g. from the panel parquet cache), so the .pvar is not read again."""
        base = Path(prefix)
        self.kind = kind
        if kind == "pfile":
            gen, var, sam = (base.with_name(base.name + ext) for ext in (".pgen", ".pvar", ".psam"))
            if not var.exists() and base.with_name(base.name + ".pvar.zst").exists():
                var = base.with_name(base.name + ".pvar.zst")
        else:
            gen, var, sam = (base.with_name(base.name + ext) for ext in (".bed", ".bim", ".fam"))
        for f in (gen, var, sam):
            if not f.exists():
                raise InputError(f"{kind} is incomplete: {f.name} does not exist", file=f)
        self.path = gen
        self.pvar_path, self.psam_path = var, sam
        if kind == "pfile":
            if sites is None:
                sites, meta = read_pvar(var)
            self.samples = read_psam(sam)
        else:
            sites, meta = read_bim(var), []
            self.samples = read_fam(sam)
        self.build = detect_build(meta or [])
        self.variants = split_multiallelic(sites).select(*VARIANT_SCHEMA, "record")
        self._record = self.variants.get_column("record").cast(pl.UInt32).to_numpy()
        self._allele = self.variants.get_column("allele_idx").to_numpy()
        self.variants = self.variants.drop("record")
        n_sites = sites.height
        n_alleles = sites.get_column("alt").str.count_matches(",").to_numpy().astype(np.uint64) + 2
        offsets = None
        if (n_alleles > 2).any():  # pgenlib needs the allele layout of multi-allelic files
            offsets = np.zeros(n_sites + 1, dtype=np.uintp)
            offsets[1:] = np.cumsum(n_alleles)
        try:
            self._reader = pgenlib.PgenReader(
                bytes(str(gen), "utf-8"),
                raw_sample_ct=self.samples.height,
                variant_ct=n_sites,
                allele_idx_offsets=offsets,
            )
        except RuntimeError as exc:
            raise InputError(f"cannot read genotypes ({exc})", file=gen) from exc
        if self._reader.get_variant_ct() != n_sites:
            raise InputError(
                f"{gen.name} has {self._reader.get_variant_ct()} variants but {var.name} lists {n_sites}",
                file=gen,
            )

    def read(self, vidx: np.ndarray) -> np.ndarray:
        vidx = np.asarray(vidx, dtype=np.int64)
        out = np.empty((len(vidx), self.n_samples), dtype=np.int8)
        if len(vidx) == 0:
            return out
        rec = self._record[vidx]
        allele = self._allele[vidx]
        simple = allele == 1
        if simple.all() and (len(rec) == 1 or bool((np.diff(rec.astype(np.int64)) > 0).all())):
            # sorted distinct biallelic rows (a batch's chunks): straight into `out`, no copies
            if int(rec[-1]) - int(rec[0]) + 1 == len(rec):
                self._reader.read_range(int(rec[0]), int(rec[-1]) + 1, out)
            else:
                self._reader.read_list(rec.astype(np.uint32), out)
            return out
        if simple.any():
            uniq, inverse = np.unique(rec[simple], return_inverse=True)
            buf = np.empty((len(uniq), self.n_samples), dtype=np.int8)
            span = int(uniq[-1]) - int(uniq[0]) + 1
            if len(uniq) == span:
                self._reader.read_range(int(uniq[0]), int(uniq[-1]) + 1, buf)
            else:
                self._reader.read_list(uniq.astype(np.uint32), buf)
            out[simple] = buf[inverse]
        row = np.empty(self.n_samples, dtype=np.int8)
        for k in np.flatnonzero(~simple):
            self._reader.read(int(rec[k]), row, int(allele[k]))
            out[k] = row
        return out

    def close(self) -> None:
        self._reader.close()


# --------------------------------------------------------------------------------------------------
# normalised parquet (written by engine.vcf)


class ParquetSource(GenotypeSource):
    """Genotypes normalised to parquet: variant columns + `gt` (fixed-size list of int8 per row)."""

    kind = "parquet"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source_path = self.path
        try:
            meta = pl.read_parquet_metadata(self.path)
            info = json.loads(meta.get("prsgazer.genotypes", "{}"))
            frame = pl.read_parquet(self.path)
        except (OSError, pl.exceptions.PolarsError, ValueError) as exc:
            raise InputError(f"not a prsgazer genotype parquet ({exc})", file=self.path) from exc
        self.info = info
        samples = info.get("samples", [])
        self.samples = pl.DataFrame(
            {"sample_id": samples, "founder": [True] * len(samples)},
            schema={"sample_id": pl.String, "founder": pl.Boolean},
        )
        self.build = BuildEvidence.model_validate(info.get("build", {}))
        self.variants = frame.select(list(VARIANT_SCHEMA))
        self._matrix = (
            frame.get_column("gt").to_numpy().reshape(frame.height, len(samples))
            if frame.height
            else np.empty((0, len(samples)), dtype=np.int8)
        )
        blocks_path = self.path.with_suffix(".blocks.parquet")
        self.blocks = pl.read_parquet(blocks_path) if blocks_path.exists() else None

    def read(self, vidx: np.ndarray) -> np.ndarray:
        return self._matrix[np.asarray(vidx, dtype=np.int64)]


# --------------------------------------------------------------------------------------------------
# opening any genotype input

_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".gvcf", ".gvcf.gz", ".g.vcf", ".g.vcf.gz")


def genotype_kind(path: str | Path) -> tuple[str, Path]:
    """('vcf' | 'pfile' | 'bfile' | 'parquet', path or prefix) for a user-given genotype path."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith(_VCF_SUFFIXES):
        return "vcf", p
    if name.endswith(".parquet"):
        return "parquet", p
    for ext, kind in ((".pgen", "pfile"), (".pvar", "pfile"), (".psam", "pfile"), (".bed", "bfile"),
                      (".bim", "bfile"), (".fam", "bfile")):  # fmt: skip
        if name.endswith(ext):
            return kind, p.with_name(p.name[: -len(ext)])
    if p.with_name(p.name + ".pgen").exists():
        return "pfile", p
    if p.with_name(p.name + ".bed").exists():
        return "bfile", p
    if p.is_file():
        with open(p, "rb") as fh:
            head = fh.read(2)
        if head == b"\x1f\x8b" or head == b"##":
            return "vcf", p
    raise InputError(
        "genotypes not found: expected a VCF (.vcf/.vcf.gz), a plink2 prefix (.pgen/.pvar/.psam) "
        "or a plink1 prefix (.bed/.bim/.fam)",
        file=p,
    )


def open_genotypes(
    path: str | Path,
    *,
    cache_dir: Path | None = None,
    filters: QualityFilters | None = None,
) -> GenotypeSource:
    """Open genotypes of any supported kind. A VCF is normalised to parquet first (cached under
    `<cache_dir>/genotypes/` keyed by the file's CID and the quality filters)."""
    from prsgazer.engine.vcf import normalize_vcf
    from prsgazer.storage.cid import cid_of_file

    kind, p = genotype_kind(path)
    if kind in ("pfile", "bfile"):
        return PgenSource(p, kind)
    if kind == "parquet":
        return ParquetSource(p)
    if not p.exists():
        raise InputError("genotype file does not exist", file=p)
    qf = filters or QualityFilters()
    if cache_dir is None:
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="prsgazer-vcf-")) / "genotypes.parquet"
    else:
        out = Path(cache_dir) / "genotypes" / f"{cid_of_file(p)}-{qf.key()}.parquet"
    if not out.exists():
        normalize_vcf(p, out, filters=qf)
    src = ParquetSource(out)
    src.source_path = p
    return src
