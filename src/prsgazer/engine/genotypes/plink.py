"""plink2 pfiles and plink1 bfiles read with pgenlib (`PgenSource`), and their text tables
(.pvar/.bim/.psam/.fam). See docs/engine.md ("Genotypes").

A .pgen may hold dosages (plink2 `--vcf … dosage=DS --make-pgen`): `pgen_has_dosages`
(`engine.pgen_index`) reads the variant record types in its header, and `PgenSource.read_dosages`
reads them (1/16384 steps, the hard call where a sample has no dosage) with the compiled decoder of
`engine.pgen`, or pgenlib for what that does not read. A .bed has hard calls only.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pgenlib
import polars as pl

from prsgazer.engine.common import chrom_expr
from prsgazer.engine.genotypes.build import detect_build
from prsgazer.engine.genotypes.source import (
    HARD_CALLS,
    VARIANT_SCHEMA,
    GenotypeSource,
    split_multiallelic,
)
from prsgazer.engine.pgen_index import has_dosages as pgen_has_dosages
from prsgazer.errors import InputError

if TYPE_CHECKING:
    from prsgazer.engine.pgen import PgenDosages

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
    return pl.DataFrame(
        {"sample_id": ids, "founder": founder, "fid": fid, "iid": iid},
        schema={"sample_id": pl.String, "founder": pl.Boolean, "fid": pl.String, "iid": pl.String},
    )


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
        self.dosage_source = "pgen dosages" if kind == "pfile" and pgen_has_dosages(gen) else HARD_CALLS
        self._biallelic = n_alleles == 2  # per record
        self._direct: PgenDosages | bool | None = False  # False: not opened yet

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

    def read_dosages(self, vidx: np.ndarray) -> np.ndarray:
        out = np.empty((len(vidx), self.n_samples), dtype=np.float32)
        self.read_dosages_into(vidx, out)
        return out

    def read_dosages_into(self, vidx: np.ndarray, out: np.ndarray) -> int | None:
        """`read_dosages` into `out` (C-contiguous float32, (len(vidx), n_samples)): callers that read chunk
        after chunk reuse their buffers (a new 32 MB array costs more in page faults than decoding it).
        Returns how many values are missing (−9) when the reader counted them, else None.

        Sorted distinct rows of biallelic records go to the compiled decoder (`engine.pgen`: the same
        values as pgenlib's, several threads, missing values counted); anything else to pgenlib."""
        if not self.has_dosages:
            out[:] = self.read(vidx)
            return None
        vidx = np.asarray(vidx, dtype=np.int64)
        if len(vidx) == 0:
            return 0
        rec = self._record[vidx]
        allele = self._allele[vidx]
        simple = allele == 1
        if simple.all() and (len(rec) == 1 or bool((np.diff(rec.astype(np.int64)) > 0).all())):
            direct = self._direct_reader()
            if direct is not None and bool(self._biallelic[rec].all()) and direct.supports(rec):
                return direct.read(rec, out)
            if int(rec[-1]) - int(rec[0]) + 1 == len(rec):
                self._reader.read_dosages_range(int(rec[0]), int(rec[-1]) + 1, out)
            else:
                self._reader.read_dosages_list(rec.astype(np.uint32), out)
            return None
        row = np.empty(self.n_samples, dtype=np.float32)
        for k in range(len(rec)):
            self._reader.read_dosages(int(rec[k]), row, int(allele[k]))
            out[k] = row
        return None

    def _direct_reader(self) -> PgenDosages | None:
        """The compiled dosage decoder of this .pgen (opened on first use: numba is imported only when
        dosages are read), None when pgenlib must read it."""
        if self._direct is False:
            from prsgazer.engine.pgen import open_dosages

            self._direct = open_dosages(self.path) if self.kind == "pfile" else None
        return self._direct  # type: ignore[return-value]

    def close(self) -> None:
        if self._direct:
            self._direct.close()  # type: ignore[union-attr]
        self._reader.close()
