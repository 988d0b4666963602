"""Opening any genotype input by its kind (VCF, pfile, bfile, normalised parquet). See docs/engine.md.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from prsgazer.engine.file_cid import file_cid
from prsgazer.engine.genotypes.arrays import ArraySource, read_array, sniff_array
from prsgazer.engine.genotypes.multi import MultiSource, is_samplesheet, read_samplesheet
from prsgazer.engine.genotypes.plink import PgenSource
from prsgazer.engine.genotypes.source import DOSAGE_FIELDS, GenotypeSource, QualityFilters, check_dosage_fields
from prsgazer.engine.genotypes.table import ParquetSource
from prsgazer.engine.genotypes.vcf import normalize_vcf
from prsgazer.engine.version import source_version
from prsgazer.errors import InputError
from prsgazer.logs import logger
from prsgazer.sealed import discard, publish, verify

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
        if sniff_array(p) is not None:
            return "array", p
        with open(p, "rb") as fh:
            head = fh.read(2)
        if head == b"\x1f\x8b" or head == b"##":
            return "vcf", p
    raise InputError(
        "genotypes not found: expected a VCF (.vcf/.vcf.gz), a plink2 prefix (.pgen/.pvar/.psam), "
        "a plink1 prefix (.bed/.bim/.fam) or a consumer array file (23andMe, AncestryDNA, …)",
        file=p,
    )


_PREFIX_FILES = {"pfile": (".pgen", ".pvar", ".pvar.zst", ".psam"), "bfile": (".bed", ".bim", ".fam")}


def genotype_files(path: str | Path) -> list[Path]:
    """The files a genotype input is read from (a plink prefix: its .pgen/.pvar/.psam or .bed/.bim/.fam),
    for checking that an output does not overwrite one of them. Never raises: an unknown input is itself."""
    try:
        kind, p = genotype_kind(path)
    except InputError:
        return [Path(path)]
    if kind in _PREFIX_FILES:
        return [Path(path), *(p.with_name(p.name + ext) for ext in _PREFIX_FILES[kind])]
    return [p]


def open_genotypes(
    path: str | Path | Sequence[str | Path],
    *,
    cache_dir: Path | None = None,
    filters: QualityFilters | None = None,
    dosage_fields: tuple[str, ...] | list[str] = DOSAGE_FIELDS,
) -> GenotypeSource:
    """Open genotypes of any supported kind. A VCF is normalised to parquet first (cached under
    `<cache_dir>/genotypes/` keyed by the file's CID, the quality filters, the dosage fields read and
    the normalising code's version). `dosage_fields`: VCF FORMAT fields read as dosages, in order of
    preference (empty: hard calls only); a .pgen's dosages are always readable (`read_dosages`)."""
    if not isinstance(path, (str, Path)) or is_samplesheet(path):
        paths = [Path(x) for x in path] if not isinstance(path, (str, Path)) else read_samplesheet(path)[1]
        expanded = [q for x in paths for q in (read_samplesheet(x)[1] if is_samplesheet(x) else [x])]
        parts: list[GenotypeSource] = []
        try:
            for q in expanded:
                parts.append(open_genotypes(q, cache_dir=cache_dir, filters=filters, dosage_fields=dosage_fields))
            return parts[0] if len(parts) == 1 else MultiSource(parts)
        except BaseException:
            for part in parts:
                part.close()
            raise
    kind, p = genotype_kind(path)
    if kind in ("pfile", "bfile"):
        return PgenSource(p, kind)
    if kind == "parquet":
        return ParquetSource(p)
    if kind == "array":
        return ArraySource(read_array(p))
    if not p.exists():
        raise InputError("genotype file does not exist", file=p)
    qf = filters or QualityFilters()
    fields = check_dosage_fields(dosage_fields)
    if cache_dir is None:  # normalised into a temporary folder that goes with the source
        tmp = Path(tempfile.mkdtemp(prefix="prsgazer-vcf-"))
        try:
            out = tmp / "genotypes.parquet"
            normalize_vcf(p, out, filters=qf, dosage_fields=fields)
            src = ParquetSource(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        src.own_folder(tmp)
    else:
        # keyed by the code that normalises (its sources' version), never by a number someone must bump
        version = source_version("genotypes", "common")
        key = hashlib.sha256(f"{qf.key()}|{','.join(fields)}|{version}".encode()).hexdigest()[:16]
        # the VCF's CID is remembered for its file state (a WGS gVCF is several GB to hash)
        src = _cached_table(p, Path(cache_dir) / "genotypes" / f"{file_cid(p, cache_dir)}-{key}.parquet", qf, fields)
    src.source_path = p
    return src


_WHAT = "normalised genotype cache entry"


def _cached_table(vcf: Path, out: Path, filters: QualityFilters, fields: tuple[str, ...]) -> ParquetSource:
    """The VCF's normalised table from the cache when its sealed bytes are intact, else normalised
    again from the VCF (a damaged entry is the cache's fault, never the user's input)."""
    blocks = out.with_suffix(".blocks.parquet")
    entry_cid = verify(out, blocks, what=_WHAT)
    if entry_cid is not None:
        try:
            src = ParquetSource(out)
            src.cache_cid = entry_cid
            return src
        except InputError as exc:  # sealed yet unreadable: written by a faulty run; rebuilt below
            logger.warning("{} {} is unreadable ({}): discarded, it will be rebuilt", _WHAT, out, exc.reason)
            discard(out, blocks)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=out.parent) as tmp:
        t = Path(tmp) / "genotypes.parquet"
        normalize_vcf(vcf, t, filters=filters, dosage_fields=fields)
        entry_cid = publish(t, out, (t.with_suffix(".blocks.parquet"), blocks))
    src = ParquetSource(out)
    src.cache_cid = entry_cid
    return src
