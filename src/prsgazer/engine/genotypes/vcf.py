"""VCF / VCF.gz / gVCF → normalised parquet, streamed in chunks. See docs/engine.md ("Genotypes").

The text is decompressed and parsed chunk by chunk (polars CSV reader on each chunk), so the
whole VCF is never in memory. Multi-allelic sites are split per ALT (`allele_idx` keeps the ALT
number), haploid calls count as homozygous and half-calls (`./1`) as missing (plink2's
`--vcf-half-call missing`), `chr` prefixes are dropped. Quality filters (FILTER set, QUAL, per-call
DP and GQ) turn failing calls into missing calls, never into absent sites. gVCF reference blocks
(`END=`, `<NON_REF>`/`<*>`-only ALT, or ALT `.`) go to a `.blocks.parquet` companion
(chrom, start, end, gt) used by the absent-site policy. Calls are stored as a fixed-size list of
int8 per row (`gt`, ALT count or -9), which polars reads back as an (n_variants, n_samples) array.

Dosages: when the header declares one of the dosage fields asked for (default `DS`, `HDS`, `GP`, in
that order of preference), a `ds` column holds each call's ALT dosage as plink2 stores it, an
unsigned integer in units of 1/16384 (`DOSAGE_MISSING` = 65535 for a missing call): the first field
with a value for the call (`genotypes.dosage` parses them as plink2 does), else the GT count. `gt`
keeps the hard calls as written, for `--hard-calls` runs.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import polars as pl
from isal import igzip, igzip_threaded
from pydantic import BaseModel, Field

from prsgazer.engine.common import GZIP_ERRORS, MISSING, chrom_expr
from prsgazer.engine.genotypes.build import BuildEvidence, detect_build
from prsgazer.engine.genotypes.dosage import FORCE_MISSING, NO_DOSAGE, field_dosages
from prsgazer.engine.genotypes.source import (
    DOSAGE_FIELDS,
    DOSAGE_SCALE,
    HARD_CALLS,
    QualityFilters,
    check_dosage_fields,
)
from prsgazer.errors import InputError
from prsgazer.fileio import Output

if TYPE_CHECKING:
    import pyarrow as pa

NORMALISER_VERSION = "2"
#: A missing call in the `ds` column.
DOSAGE_MISSING = 65535
# zstd level 1, dictionary only for the chromosome, no statistics: ~3× faster writes than defaults.
_PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": ["chrom"],
    "write_statistics": False,
}
_FIXED = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
_REAL_ALLELE = r"^[ACGTN]+$"
_SYMBOLIC = r"^(<.*>|\*|\.)$|[\[\]]"


class VcfSummary(BaseModel):
    """What the normaliser saw and decided."""

    path: str
    samples: list[str]
    build: BuildEvidence
    is_gvcf: bool = False
    n_records: int = 0
    n_variant_rows: int = 0
    n_multiallelic_records: int = 0
    n_ref_blocks: int = 0
    n_symbolic_alleles: int = 0
    n_records_failing_filters: int = 0
    n_calls_failing_filters: int = 0
    n_half_calls: int = 0
    n_haploid_calls: int = 0
    n_missing_calls: int = 0
    filters: QualityFilters = Field(default_factory=QualityFilters)
    dosage_fields: list[str] = Field(default_factory=list, description="Dosage fields asked for, in order.")
    dosage_declared: list[str] = Field(
        default_factory=list,
        description="Dosage fields the header declares (a `ds` column is written when one asked for is).",
    )
    n_dosage_records: dict[str, int] = Field(
        default_factory=dict, description="Records with at least one call whose dosage came from each field."
    )

    def dosage_source(self) -> str:
        """'hard calls', the one field used ('DS'), or each with its records ('DS (90 records), GP (10 records)')."""
        used = {k: v for k, v in self.n_dosage_records.items() if v}
        if not used:
            return HARD_CALLS
        if len(used) == 1:
            return next(iter(used))
        return ", ".join(f"{k} ({v} records)" for k, v in used.items())


def _open_binary(path: Path, *, threaded: bool = False) -> IO[bytes]:
    """Plain or gzip/bgzip (by magic bytes). ISA-L decompresses ~3× faster than zlib; `threaded`
    moves it to a helper thread so it overlaps with parsing."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        if threaded:
            return igzip_threaded.open(path, "rb", threads=1)
        return igzip.open(path, "rb")
    return open(path, "rb")


def _chunks(fh: IO[bytes], path: Path, size: int, piece: int = 4 << 20) -> Iterator[bytes]:
    """Whole lines, about `size` bytes at a time (read in 4 MiB pieces, joined with one copy);
    a truncated gzip stream is an InputError."""
    rest = b""
    parts: list[bytes] = []
    have = 0
    while True:
        try:
            block = fh.read(piece)
        except GZIP_ERRORS as exc:
            raise InputError(
                f"gzip data is truncated or corrupt ({exc})",
                file=path,
                hint="the file was cut short: copy or download it again",
            ) from exc
        if block:
            parts.append(block)
            have += len(block)
            if have < size:
                continue
        if not parts:
            if rest:
                yield rest if rest.endswith(b"\n") else rest + b"\n"
            return
        last = parts.pop()
        cut = last.rfind(b"\n")
        if cut < 0 and block:  # no line end in the last piece: keep reading
            parts.append(last)
            continue
        if cut < 0:  # end of file without a final newline
            data = b"".join([rest, *parts, last])
            rest = b""
            yield data if data.endswith(b"\n") else data + b"\n"
            return
        data = b"".join([rest, *parts, last[: cut + 1]])
        rest = last[cut + 1 :]
        parts, have = [], 0
        if data:
            yield data
        if not block:
            if rest:
                yield rest if rest.endswith(b"\n") else rest + b"\n"
            return


def read_vcf_header(path: Path) -> tuple[list[str], list[str], int]:
    """The '##' lines, the column names of the '#CHROM' line and its line number."""
    meta: list[str] = []
    try:
        with _open_binary(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("##"):
                    meta.append(line)
                    continue
                if line.startswith("#CHROM"):
                    return meta, line[1:].split("\t"), lineno
                raise InputError(
                    "expected the '#CHROM' column line after the '##' header",
                    file=path,
                    line=lineno,
                    hint="is this a VCF?",
                )
    except GZIP_ERRORS as exc:
        raise InputError(f"gzip data is truncated or corrupt ({exc})", file=path) from exc
    raise InputError("no '#CHROM' column line: not a VCF, or the file is empty", file=path)


def _parse_gt(gt: str) -> tuple[int, int, str]:
    """'0/1' → (0, 1, ''), haploid '1' → (1, 1, 'haploid'), './1' → (-1, -1, 'half'); bad → ValueError."""
    if gt in (".", "./.", ".|.", ""):
        return -1, -1, ""
    parts = re.split(r"[/|]", gt)
    if len(parts) == 1:
        a = -1 if parts[0] == "." else int(parts[0])
        return a, a, "haploid"
    if len(parts) != 2:
        return -1, -1, "polyploid"
    if "." in parts:
        return -1, -1, "half"
    return int(parts[0]), int(parts[1]), ""


def normalize_vcf(
    path: str | Path,
    out: str | Path,
    *,
    filters: QualityFilters | None = None,
    dosage_fields: tuple[str, ...] | list[str] = DOSAGE_FIELDS,
    chunk_bytes: int = 48 << 20,
) -> VcfSummary:
    """Stream a VCF into `out` (parquet: variant rows + `gt`, + `ds` with dosages) and
    `out.blocks.parquet` (gVCF blocks). `dosage_fields`: FORMAT fields read as dosages, in order of
    preference (empty: hard calls only).

    Both are written through `prsgazer.fileio` (temp files renamed at the end), so a failure leaves
    nothing behind.
    """
    import pyarrow as pa  # writing only: opening a normalised file does not load pyarrow
    import pyarrow.parquet as pq

    src = Path(path)
    dst = Path(out)
    filters = filters or QualityFilters()
    dosage_fields = check_dosage_fields(dosage_fields)
    if not src.exists():
        raise InputError("genotype file does not exist", file=src)
    meta, columns, header_line = read_vcf_header(src)
    if not meta or not meta[0].startswith("##fileformat=VCF"):
        raise InputError("first line is not '##fileformat=VCF…'", file=src, line=1, hint="is this a VCF?")
    if columns[: len(_FIXED) - 1] != _FIXED[:-1]:
        raise InputError(f"column line must start with {'/'.join(_FIXED[:-1])}", file=src, line=header_line)
    samples = columns[9:]
    if len(columns) < 10 or columns[8] != "FORMAT":
        raise InputError(
            "VCF has no sample columns (sites-only): there are no genotypes to score",
            file=src,
            line=header_line,
            field="FORMAT",
        )
    if len(set(samples)) != len(samples):
        dup = next(s for s in samples if samples.count(s) > 1)
        raise InputError(f"sample {dup!r} appears twice", file=src, line=header_line, field=dup)
    declared = [f for f in DOSAGE_FIELDS if any(line.startswith(f"##FORMAT=<ID={f},") for line in meta)]
    summary = VcfSummary(
        path=str(src), samples=samples, build=detect_build(meta), filters=filters,
        dosage_fields=list(dosage_fields), dosage_declared=declared,
    )  # fmt: skip
    with_ds = any(f in declared for f in dosage_fields)
    read_fields = tuple(dosage_fields) if with_ds else ()
    n = len(samples)
    blocks_dst = dst.with_suffix(".blocks.parquet")
    outputs = [Output(dst, inputs=[src], durable=False), Output(blocks_dst, inputs=[src], durable=False)]
    var_schema = pa.schema(
        [
            ("vidx", pa.uint32()),
            ("chrom", pa.large_string()),
            ("pos", pa.int64()),
            ("id", pa.large_string()),
            ("ref", pa.large_string()),
            ("alt", pa.large_string()),
            ("allele_idx", pa.int8()),
            ("is_multiallelic", pa.bool_()),
            ("gt", pa.list_(pa.int8(), n)),
            *([("ds", pa.list_(pa.uint16(), n))] if with_ds else []),
        ]
    )
    block_schema = pa.schema(
        [
            ("chrom", pa.large_string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("gt", pa.list_(pa.int8(), n)),
        ]
    )
    # A smaller chunk for wide VCFs keeps the per-chunk cell count (and memory) bounded.
    chunk = max(1 << 20, min(chunk_bytes, (chunk_bytes * 4) // max(n, 1)))
    gt_codes: dict[str, int] = {}
    gt_table: list[tuple[int, int, str]] = []
    try:
        tmp_files = [str(o.temp_path()) for o in outputs]
        with (
            pq.ParquetWriter(
                tmp_files[0], var_schema, **_PARQUET_OPTIONS, column_encoding={"pos": "DELTA_BINARY_PACKED"}
            ) as vw,
            pq.ParquetWriter(tmp_files[1], block_schema, **_PARQUET_OPTIONS) as bw,
            _open_binary(src, threaded=True) as fh,
        ):
            try:  # skip the header lines
                for _ in range(header_line):
                    fh.readline()
            except GZIP_ERRORS as exc:
                raise InputError(
                    f"gzip data is truncated or corrupt ({exc})",
                    file=src,
                    hint="the file was cut short: copy or download it again",
                ) from exc
            line0 = header_line + 1
            vidx0 = 0
            for data in _chunks(fh, src, chunk):
                frame = _read_chunk(data, columns, src, line0)
                nrows = frame.height
                var_tab, blk_tab = _process(
                    frame, samples, src, line0, vidx0, filters, summary, gt_codes, gt_table, read_fields, with_ds
                )
                if var_tab is not None and var_tab.num_rows:
                    vw.write_table(var_tab)
                    vidx0 += var_tab.num_rows
                if blk_tab is not None and blk_tab.num_rows:
                    bw.write_table(blk_tab)
                line0 += nrows
            summary.n_variant_rows = vidx0
            if summary.n_records == 0:
                raise InputError("VCF has no records", file=src, line=header_line + 1)
            info = {
                "normaliser_version": NORMALISER_VERSION,
                "samples": samples,
                "build": summary.build.model_dump(),
                # the source's file name only: the same VCF gives the same bytes (and CID) wherever it lies
                "summary": summary.model_dump(mode="json") | {"path": Path(summary.path).name},
            }
            vw.add_key_value_metadata({"prsgazer.genotypes": json.dumps(info)})
        outputs[0].commit()
        if summary.n_ref_blocks:
            outputs[1].commit()
        else:
            outputs[1].discard()
            blocks_dst.unlink(missing_ok=True)
    except BaseException:
        for o in outputs:
            o.discard()
        raise
    return summary


def _read_chunk(data: bytes, columns: list[str], src: Path, line0: int) -> pl.DataFrame:
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            separator="\t",
            has_header=False,
            new_columns=columns,
            schema={c: pl.String for c in columns},
            quote_char=None,
        )
    except pl.exceptions.PolarsError:
        _locate_bad_line(data, len(columns), src, line0)
        raise
    last = frame.get_column(columns[-1])
    if last.null_count():
        i = int(last.is_null().arg_true()[0])
        _locate_bad_line(data, len(columns), src, line0)
        raise InputError(f"record has fewer than {len(columns)} fields", file=src, line=line0 + i, field=columns[-1])
    return frame


def _locate_bad_line(data: bytes, n_fields: int, src: Path, line0: int) -> None:
    for i, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            if i < data.count(b"\n"):
                raise InputError("empty line inside the VCF body", file=src, line=line0 + i)
            continue
        got = raw.rstrip(b"\r").count(b"\t") + 1
        if got != n_fields:
            raise InputError(
                f"record has {got} tab-separated fields, the column line has {n_fields}",
                file=src,
                line=line0 + i,
                hint="VCF fields must be separated by single tabs",
            )


def _bad(frame: pl.DataFrame, mask: pl.Series | np.ndarray, src: Path, line0: int, field: str, msg: str) -> None:
    m = np.asarray(mask)
    if m.any():
        i = int(np.flatnonzero(m)[0])
        value = frame.get_column(field)[i] if field in frame.columns else None
        raise InputError(msg.format(value=value), file=src, line=line0 + i, field=field)


def _process(
    frame: pl.DataFrame,
    samples: list[str],
    src: Path,
    line0: int,
    vidx0: int,
    filters: QualityFilters,
    summary: VcfSummary,
    gt_codes: dict[str, int],
    gt_table: list[tuple[int, int, str]],
    dosage_fields: tuple[str, ...] = (),
    with_ds: bool = False,
) -> tuple[pa.Table | None, pa.Table | None]:
    import pyarrow as pa

    nrec = frame.height
    n = len(samples)
    summary.n_records += nrec
    pos = frame.get_column("POS").cast(pl.Int64, strict=False)
    _bad(
        frame,
        (pos.is_null() | (pos < 1)).to_numpy(),
        src,
        line0,
        "POS",
        "position {value!r} is not a positive integer",
    )
    # Alleles are validated and upper-cased per distinct value (few), not per record.
    ref = _upper(frame.get_column("REF"))
    _bad_values(frame, ref, ~_matches(ref, _REAL_ALLELE), src, line0, "REF",
                "REF allele {value!r} is not a DNA sequence (A, C, G, T, N)")  # fmt: skip
    alt_rec = _upper(frame.get_column("ALT"))
    # Records with one ALT are handled as plain strings; the few with several are split.
    is_multi = alt_rec.str.contains(",", literal=True).to_numpy()
    multi_idx = np.flatnonzero(is_multi)
    single = pl.Series(~is_multi)
    alt_real, alt_symbolic = _classify(alt_rec)
    bad = single & ~(alt_real | alt_symbolic)
    _bad_values(frame, alt_rec, bad, src, line0, "ALT", "ALT {value!r} is not a valid allele (A, C, G, T, N or <…>)")
    n_alts = np.ones(nrec, dtype=np.int64)
    n_real = (alt_real & single).to_numpy().astype(np.int64)
    split = pl.DataFrame(schema={"rec": pl.Int64, "alt": pl.String, "allele_idx": pl.Int8})
    if len(multi_idx):
        parts = (
            pl.DataFrame({"rec": multi_idx, "alt": alt_rec.gather(multi_idx).str.split(",")})
            .with_columns(pl.int_ranges(1, pl.col("alt").list.len() + 1, dtype=pl.Int8).alias("allele_idx"))
            .explode("alt", "allele_idx")
        )
        real, symbolic = _classify(parts.get_column("alt"))
        bad_flat = ~(real | symbolic)
        if bad_flat.any():
            bad_rec = np.zeros(nrec, dtype=bool)
            bad_rec[parts.get_column("rec").filter(bad_flat).to_numpy()] = True
            _bad(
                frame,
                bad_rec,
                src,
                line0,
                "ALT",
                "ALT {value!r} is not a valid allele (A, C, G, T, N or <…>)",
            )
        n_alts[multi_idx] = np.bincount(parts.get_column("rec").to_numpy(), minlength=nrec)[multi_idx]
        n_real[multi_idx] = np.bincount(parts.get_column("rec").filter(real).to_numpy(), minlength=nrec)[multi_idx]
        split = parts.filter(real)
    summary.n_symbolic_alleles += int((n_alts - n_real).sum() - (alt_rec == ".").sum())
    if _matches(alt_rec, "<NON_REF>|<\\*>").any():
        summary.is_gvcf = True
    summary.n_multiallelic_records += int((n_real > 1).sum())

    # --- record-level filters ---
    rec_ok = np.ones(nrec, dtype=bool)
    if filters.filter_pass is not None:
        rec_ok &= frame.get_column("FILTER").is_in(filters.filter_pass).fill_null(False).to_numpy()
    if filters.min_qual is not None:
        q = frame.get_column("QUAL").cast(pl.Float64, strict=False)
        rec_ok &= (q.is_null() | (q >= filters.min_qual)).to_numpy()
    summary.n_records_failing_filters += int((~rec_ok).sum())

    # --- FORMAT: where GT, DP, GQ and the dosage fields are ---
    fmt = frame.get_column("FORMAT")
    idx_maps: dict[str, dict[str, int]] = {k: {} for k in ("GT", "DP", "GQ", *dosage_fields)}
    for f in fmt.unique().to_list():
        keys = (f or "").split(":")
        for k in idx_maps:
            idx_maps[k][f] = keys.index(k) if k in keys else -1
    gt_idx = fmt.replace_strict(idx_maps["GT"], return_dtype=pl.Int32)
    dosage_idx = {k: fmt.replace_strict(idx_maps[k], return_dtype=pl.Int32).to_numpy() for k in dosage_fields}
    has_dosage = np.zeros(nrec, dtype=bool)
    for v in dosage_idx.values():
        has_dosage |= v >= 0
    _bad(
        frame,
        ((gt_idx < 0).to_numpy() & ~has_dosage),
        src,
        line0,
        "FORMAT",
        "FORMAT {value!r} has no GT" + (f" nor {'/'.join(dosage_fields)}" if dosage_fields else "")
        + ": genotypes are needed to score",
    )
    gt_first = bool((gt_idx == 0).all())

    def field_of(col: pl.Series, idx: pl.Series, first: bool) -> pl.Series:
        if first:
            cut = col.str.find(":", literal=True)
            return (
                pl.DataFrame({"s": col, "c": cut})
                .select(
                    pl.when(pl.col("c").is_null()).then(pl.col("s")).otherwise(pl.col("s").str.slice(0, pl.col("c")))
                )
                .to_series()
            )
        return (
            pl.DataFrame({"s": col, "i": idx})
            .select(pl.col("s").str.split(":").list.get(pl.col("i"), null_on_oob=True))
            .to_series()
        )

    # All samples' fields as one long column (sample-major), so every step below is one vectorised
    # call whatever the number of samples.
    long = (
        pl.concat([frame.get_column(name) for name in samples], rechunk=True) if n else pl.Series([], dtype=pl.String)
    )
    # a record without GT (dosages only) gets an out-of-range index: no call
    gt_pos = gt_idx.to_numpy()
    gt_idx_long = gt_idx if gt_first else pl.Series(np.tile(np.where(gt_pos < 0, 1 << 20, gt_pos), n))
    gt = field_of(long, gt_idx_long, gt_first)
    for u in gt.unique().to_list():
        if u not in gt_codes:
            try:
                gt_table.append(_parse_gt(u or "."))
            except ValueError:
                bad_cells = np.flatnonzero((gt == u).fill_null(False).to_numpy())
                r, j = int(bad_cells[0] % nrec), int(bad_cells[0] // nrec)
                raise InputError(
                    f"genotype {u!r} is not a GT call like 0/1", file=src, line=line0 + r, field=samples[j]
                ) from None
            gt_codes[u] = len(gt_table) - 1
    codes = gt.replace_strict(gt_codes, return_dtype=pl.Int32).to_numpy()
    lookup = np.array([(x[0], x[1]) for x in gt_table], dtype=np.int16).reshape(-1, 2)
    if dosage_idx:
        # plink2 reads a dosage of a call whose GT has one allele (`1`, `.`) on a 0..1 scale
        single_gt = {u: u is not None and "/" not in u and "|" not in u for u in gt_codes}
        one = np.zeros(len(gt_table), dtype=bool)
        for u, c in gt_codes.items():
            one[c] = single_gt[u]
        one_allele = one[codes].reshape(n, nrec).T
    half = np.array([x[2] == "half" for x in gt_table], dtype=bool)
    haploid = np.array([x[2] == "haploid" for x in gt_table], dtype=bool)
    a1 = lookup[codes, 0].reshape(n, nrec).T
    a2 = lookup[codes, 1].reshape(n, nrec).T
    summary.n_half_calls += int(half[codes].sum())
    summary.n_haploid_calls += int(haploid[codes].sum())
    call_ok = np.ones((nrec, n), dtype=bool)
    for key, minimum in (("DP", filters.min_dp), ("GQ", filters.min_gq)):
        if minimum is None:
            continue
        idx = fmt.replace_strict(idx_maps[key], return_dtype=pl.Int32).to_numpy()
        vals = field_of(long, pl.Series(np.tile(np.maximum(idx, 0), n)), False).cast(pl.Float64, strict=False)
        passed = (vals >= minimum).fill_null(False).to_numpy().reshape(n, nrec).T & (idx >= 0)[:, None]
        summary.n_calls_failing_filters += int((~passed & (a1 >= 0)).sum())
        call_ok &= passed
    top = np.maximum(a1, a2).max(axis=1) if n else np.zeros(nrec, dtype=np.int16)
    _bad(
        frame,
        top > n_alts,
        src,
        line0,
        samples[0] if n else "GT",
        "genotype allele index exceeds the number of ALT alleles",
    )
    filtered = ~call_ok | ~rec_ok[:, None]
    missing = (a1 < 0) | (a2 < 0) | filtered
    summary.n_missing_calls += int(missing.sum())

    raw_chrom = frame.get_column("CHROM")
    uniq_chrom = raw_chrom.unique()
    chrom = raw_chrom.replace_strict(uniq_chrom, pl.DataFrame({"c": uniq_chrom}).select(chrom_expr("c")).to_series())
    ids = frame.get_column("ID")
    # --- reference blocks: records with no real ALT ---
    blk_mask = n_real == 0
    blk_tab = None
    if blk_mask.any():
        summary.n_ref_blocks += int(blk_mask.sum())
        info = frame.get_column("INFO")
        end = info.str.extract(r"(?:^|;)END=(\d+)", 1).cast(pl.Int64, strict=False)
        if end.is_not_null().any():
            summary.is_gvcf = True
        ref_len = ref.str.len_chars().cast(pl.Int64)
        end = (
            pl.DataFrame({"e": end, "p": pos, "l": ref_len})
            .select(pl.coalesce("e", pl.col("p") + pl.col("l") - 1))
            .to_series()
        )
        homref = (a1 == 0) & (a2 == 0) & ~missing
        g = np.where(homref[blk_mask], 0, MISSING).astype(np.int8)
        blk_tab = pa.table(
            {
                "chrom": pa.array(chrom.filter(pl.Series(blk_mask)).to_arrow(), pa.large_string()),
                "start": pos.filter(pl.Series(blk_mask)).to_arrow(),
                "end": end.filter(pl.Series(blk_mask)).to_arrow(),
                "gt": _binary(g),
            }
        )
    # --- variant rows: one per real ALT ---
    keep_single = (n_real > 0) & ~is_multi
    base = pl.DataFrame(
        {"chrom": chrom, "pos": pos, "id": ids, "ref": ref, "alt": alt_rec, "is_multiallelic": n_real > 1}
    ).with_columns(pl.lit(1, dtype=pl.Int8).alias("allele_idx"), pl.int_range(nrec, dtype=pl.Int64).alias("rec"))
    rows = base if keep_single.all() else base.filter(pl.Series(keep_single))
    if split.height:  # split multi-allelic records merged back into record order
        idx = split.get_column("rec").to_numpy()
        extra = base[idx].with_columns(split.get_column("alt"), split.get_column("allele_idx"))
        rows = rows.merge_sorted(extra, key="rec")
    var_tab = None
    if rows.height:
        rec = rows.get_column("rec").to_numpy()
        allele = rows.get_column("allele_idx").to_numpy().astype(np.int16)[:, None]
        dos = ((a1[rec] == allele).astype(np.int8) + (a2[rec] == allele).astype(np.int8)).astype(np.int8)
        dos[missing[rec]] = MISSING
        columns = {}
        if with_ds:
            where = (src, line0, samples)
            ds = _dosages(long, dosage_idx, dos, filtered, n_alts, one_allele, rec, allele[:, 0], where, summary)
            columns["ds"] = _binary_u16(ds)
        var_tab = pa.table(
            {
                "vidx": pa.array(np.arange(vidx0, vidx0 + rows.height, dtype=np.uint32)),
                "chrom": pa.array(rows.get_column("chrom").to_arrow(), pa.large_string()),
                "pos": rows.get_column("pos").to_arrow(),
                "id": pa.array(rows.get_column("id").to_arrow(), pa.large_string()),
                "ref": pa.array(rows.get_column("ref").to_arrow(), pa.large_string()),
                "alt": pa.array(rows.get_column("alt").to_arrow(), pa.large_string()),
                "allele_idx": rows.get_column("allele_idx").to_arrow(),
                "is_multiallelic": rows.get_column("is_multiallelic").to_arrow(),
                "gt": _binary(dos),
                **columns,
            }
        )
    return var_tab, blk_tab


def _dosages(
    long: pl.Series,
    dosage_idx: dict[str, np.ndarray],
    dos: np.ndarray,
    filtered: np.ndarray,
    n_alts: np.ndarray,
    one_allele: np.ndarray,
    row_rec: np.ndarray,
    row_allele: np.ndarray,
    where: tuple[Path, int, list[str]],
    summary: VcfSummary,
) -> np.ndarray:
    """uint16 dosages (1/16384 units, DOSAGE_MISSING) of the variant rows: the first dosage field (in
    the order given) that has a value for the call, else the GT count; calls failing the quality
    filters are missing."""
    nrec, n = one_allele.shape
    out: np.ndarray | None = None
    for name, idx in dosage_idx.items():
        has = idx >= 0
        if not has.any():
            continue
        at = np.unique(idx[has])
        if len(at) == 1:  # one FORMAT layout (the rule): a fixed field index is much faster
            text = long.str.splitn(":", int(at[0]) + 2).struct.field(f"field_{int(at[0])}")
            if not has.all():
                text = text.set(pl.Series(~np.tile(has, n)), None)
        else:
            text = long.str.split(":").list.get(pl.Series(np.tile(np.where(has, idx, 1 << 20), n)), null_on_oob=True)
        vals = field_dosages(name, text, n_alts=n_alts, one_allele=one_allele, row_rec=row_rec,
                             row_allele=row_allele, where=where)  # fmt: skip
        take = vals != NO_DOSAGE
        if out is None:
            out = vals
        else:
            take &= out == NO_DOSAGE
            out[take] = vals[take]
        if take.any():
            used = np.zeros(nrec, dtype=bool)
            used[row_rec[take.any(axis=1)]] = True
            summary.n_dosage_records[name] = summary.n_dosage_records.get(name, 0) + int(used.sum())
    if out is None:
        out = np.full(dos.shape, NO_DOSAGE, dtype=np.int32)
    fallback = out == NO_DOSAGE
    out[fallback] = np.where(dos[fallback] == MISSING, DOSAGE_MISSING, dos[fallback].astype(np.int32) * DOSAGE_SCALE)
    out[(out == FORCE_MISSING) | filtered[row_rec]] = DOSAGE_MISSING
    return out.astype(np.uint16)


def _upper(col: pl.Series) -> pl.Series:
    """Upper case, computed on the distinct values only when some are lower case."""
    uniq = col.unique()
    lower = uniq.filter(uniq.str.contains("[a-z]"))
    if lower.len() == 0:
        return col
    return col.replace(lower, lower.str.to_uppercase())


def _matches(col: pl.Series, pattern: str) -> pl.Series:
    """`col.str.contains(pattern)` (null → False), evaluated once per distinct value."""
    uniq = col.unique()
    hits = uniq.filter(uniq.str.contains(pattern).fill_null(False))
    return col.is_in(hits.implode()).fill_null(False)


def _classify(col: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(is a DNA allele, is symbolic/missing) per value, evaluated once per distinct value."""
    uniq = col.unique()
    real = uniq.filter(uniq.str.contains(_REAL_ALLELE).fill_null(False))
    symbolic = uniq.filter(uniq.str.contains(_SYMBOLIC).fill_null(False))
    return col.is_in(real.implode()).fill_null(False), col.is_in(symbolic.implode()).fill_null(False)


def _bad_values(
    frame: pl.DataFrame, col: pl.Series, bad: pl.Series, src: Path, line0: int, field: str, msg: str
) -> None:
    if bad.any():
        _bad(frame, bad.to_numpy(), src, line0, field, msg)


def _binary_u16(matrix: np.ndarray) -> pa.Array:
    """(rows, n) uint16 → fixed-size-list<uint16>[n] array (zero-copy)."""
    import pyarrow as pa

    data = np.ascontiguousarray(matrix, dtype=np.uint16)
    return pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), matrix.shape[1])


def _binary(matrix: np.ndarray) -> pa.Array:
    """(rows, n) int8 → fixed-size-list<int8>[n] array, one list of calls per row (zero-copy)."""
    import pyarrow as pa

    data = np.ascontiguousarray(matrix, dtype=np.int8)
    return pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), matrix.shape[1])
