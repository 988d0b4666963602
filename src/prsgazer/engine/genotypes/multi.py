"""Many genotype files, one cohort: `MultiSource` joins sources of the same samples (one file per
chromosome, say, in any mix of VCF, pfile and bfile) into one, so a cohort split by chromosome scores
exactly as the concatenated file would; `read_samplesheet` reads pgsc_calc's samplesheet CSV
(`sampleset,path_prefix,chrom,format`). See docs/engine.md ("Many files, one cohort").

The samples must be the same, in the same order, in every file (an InputError names the first
difference), and no variant (chrom, pos, REF, ALT) may be in two files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import polars as pl

from prsgazer.engine.genotypes.build import BuildEvidence
from prsgazer.engine.genotypes.source import HARD_CALLS, VARIANT_SCHEMA, GenotypeSource
from prsgazer.errors import InputError


class MultiSource(GenotypeSource):
    """Sources of the same samples read as one: variants concatenated in the order given."""

    kind = "multi"

    def __init__(self, parts: list[GenotypeSource]) -> None:
        if not parts:
            raise InputError("no genotype file given", field="GENOTYPES")
        self.parts = parts
        self.path = _where(parts[0])
        self.samples = parts[0].samples
        _check_same_samples(parts)
        self.build = _one_build(parts)
        offsets = np.cumsum([0, *[p.variants.height for p in parts]])
        self._offsets = offsets
        self.variants = pl.concat(
            [
                p.variants.select(list(VARIANT_SCHEMA)).with_columns(
                    (pl.col("vidx").cast(pl.Int64) + int(offsets[k])).cast(pl.UInt32).alias("vidx")
                )
                for k, p in enumerate(parts)
            ]
        )
        _check_no_shared_variants(parts)
        sources = sorted({p.dosage_source for p in parts})
        if sources == [HARD_CALLS]:
            self.dosage_source = HARD_CALLS
        else:
            self.dosage_source = "; ".join(f"{_where(p).name}: {p.dosage_source}" for p in parts)

    def _split(self, vidx: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(part, positions in `vidx`, the part's own row numbers) for each part `vidx` touches."""
        vidx = np.asarray(vidx, dtype=np.int64)
        part = np.searchsorted(self._offsets, vidx, side="right") - 1
        out = []
        for k in np.unique(part):
            where = np.flatnonzero(part == k)
            out.append((int(k), where, vidx[where] - self._offsets[k]))
        return out

    def read(self, vidx: np.ndarray) -> np.ndarray:
        out = np.empty((len(vidx), self.n_samples), dtype=np.int8)
        for k, where, rows in self._split(vidx):
            out[where] = self.parts[k].read(rows)
        return out

    def read_dosages(self, vidx: np.ndarray) -> np.ndarray:
        out = np.empty((len(vidx), self.n_samples), dtype=np.float32)
        for k, where, rows in self._split(vidx):
            out[where] = self.parts[k].read_dosages(rows)
        return out

    def preload(self, *, dosages: bool) -> None:
        for p in self.parts:
            p.preload(dosages=dosages)

    def close(self) -> None:
        for p in self.parts:
            p.close()


def _where(p: GenotypeSource) -> Path:
    """The file the user named for a source (a VCF, not its normalised parquet)."""
    return Path(getattr(p, "source_path", None) or p.path)


def _check_same_samples(parts: list[GenotypeSource]) -> None:
    first = parts[0].samples.get_column("sample_id").to_list()
    for p in parts[1:]:
        ids = p.samples.get_column("sample_id").to_list()
        if ids == first:
            continue
        if len(ids) != len(first):
            raise InputError(
                f"{len(ids)} samples, but {_where(parts[0]).name} has {len(first)}: every file of a cohort "
                "must hold the same samples in the same order",
                file=_where(p), field="samples",
            )  # fmt: skip
        i = next(k for k, (a, b) in enumerate(zip(first, ids, strict=True)) if a != b)
        raise InputError(
            f"sample {i + 1} is {ids[i]!r}, but in {_where(parts[0]).name} it is {first[i]!r}: every file of a "
            "cohort must hold the same samples in the same order",
            file=_where(p), field="samples",
        )  # fmt: skip


def _one_build(parts: list[GenotypeSource]) -> BuildEvidence:
    known = [(p, p.build) for p in parts if p.build.build]
    builds = {b.build for _, b in known}
    if len(builds) > 1:
        (p1, b1), (p2, b2) = known[0], next((p, b) for p, b in known if b.build != known[0][1].build)
        raise InputError(
            f"the files are in different genome builds: {b1.build} ({_where(p1).name}) and {b2.build}",
            file=_where(p2), field="genome_build",
        )  # fmt: skip
    return known[0][1] if known else parts[0].build


def _check_no_shared_variants(parts: list[GenotypeSource]) -> None:
    keys = pl.concat(
        [p.variants.select("chrom", "pos", "ref", "alt").with_columns(pl.lit(k).alias("_part"))
         for k, p in enumerate(parts)]
    )  # fmt: skip
    dup = keys.filter(pl.struct("chrom", "pos", "ref", "alt").is_duplicated())
    if dup.height:
        r = dup.row(0, named=True)
        files = sorted({_where(parts[k]).name for k in dup.filter(
            (pl.col("chrom") == r["chrom"]) & (pl.col("pos") == r["pos"]) & (pl.col("ref") == r["ref"])
            & (pl.col("alt") == r["alt"]))["_part"].to_list()})  # fmt: skip
        where = " and ".join(files) if len(files) > 1 else f"{files[0]} (twice)"
        raise InputError(
            f"variant {r['chrom']}:{r['pos']}:{r['ref']}:{r['alt']} is in {where}: a variant may be in one file only",
            file=_where(parts[0]), field="variants",
        )  # fmt: skip


#: Columns of a pgsc_calc samplesheet.
SAMPLESHEET_COLUMNS = ("sampleset", "path_prefix", "chrom", "format")
_FORMAT_EXTENSIONS = {"vcf": (".vcf.gz", ".vcf", ".vcf.bgz"), "pfile": (".pgen",), "bfile": (".bed",)}


def is_samplesheet(path: str | Path) -> bool:
    """A CSV whose first line names pgsc_calc's samplesheet columns."""
    p = Path(path)
    if not p.is_file() or not p.name.lower().endswith(".csv"):
        return False
    with open(p, encoding="utf-8", errors="replace") as fh:
        head = fh.readline().strip().lstrip("\ufeff")
    return set(SAMPLESHEET_COLUMNS) <= {c.strip() for c in head.split(",")}


def read_samplesheet(path: str | Path) -> tuple[str, list[Path]]:
    """(sampleset, genotype paths) of a pgsc_calc samplesheet: one row per file, `path_prefix` relative
    to the samplesheet's folder when not absolute, `format` vcf | pfile | bfile. One sampleset only."""
    p = Path(path)
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InputError("the samplesheet lists no genotype file", file=p, line=2)
    missing = [c for c in SAMPLESHEET_COLUMNS if c not in rows[0]]
    if missing:
        raise InputError(f"the samplesheet lacks column(s) {missing}", file=p, line=1, field=missing[0])
    sets = {r["sampleset"].strip() for r in rows}
    if len(sets) != 1:
        raise InputError(f"several samplesets in one samplesheet: {sorted(sets)}", file=p, field="sampleset",
                         hint="score one sampleset at a time")  # fmt: skip
    paths = []
    for line, r in enumerate(rows, start=2):
        fmt = r["format"].strip().lower()
        if fmt not in _FORMAT_EXTENSIONS:
            raise InputError(f"format {r['format']!r} is not vcf, pfile or bfile", file=p, line=line, field="format")
        prefix = Path(r["path_prefix"].strip())
        prefix = prefix if prefix.is_absolute() else p.parent / prefix
        found = [prefix.with_name(prefix.name + ext) for ext in _FORMAT_EXTENSIONS[fmt]]
        found = [f for f in found if f.exists()]
        if not found:
            raise InputError(
                f"no {fmt} file at {prefix} (tried {', '.join(_FORMAT_EXTENSIONS[fmt])})",
                file=p, line=line, field="path_prefix",
            )  # fmt: skip
        paths.append(found[0] if fmt == "vcf" else prefix)
    return sets.pop(), paths
