"""Files describe themselves: what a file says about itself is read and recorded when it is stored,
whichever door stores it (`prsgazer storage put`, the MCP `upload_file`). See docs/storage.md.

`describe(path)` detects the kind of file from its content (VCF/gVCF, PGS scoring file, plink
`.pgen`/`.bed` with its companions) and reads its fields: a scoring file's header (pgs_id, name,
trait, builds) and row count; a VCF's samples, build (from its contigs) and record count; a plink
fileset's samples and build. `check_given(detected, given)` refuses values that are invalid
(`genome_build=hg99`) or contradict the file (a VCF declared GRCh38 whose contigs say GRCh37, a
sample id the file does not hold, an asset type the content is not).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from prsgazer.engine.common import normalize_build
from prsgazer.engine.genotypes import (
    PgenSource,
    array_sample_id,
    detect_build,
    genotype_kind,
    read_array,
    read_vcf_header,
    sniff_array,
)
from prsgazer.engine.scorefile import read_scorefile
from prsgazer.errors import InputError


class Detected(BaseModel):
    """What a file says about itself."""

    asset: str | None = Field(description="The asset type its content is (None: not recognised).")
    fields: dict[str, Any] = Field(default_factory=dict, description="Asset fields read from the file.")
    notes: list[str] = Field(default_factory=list, description="What was detected, in words.")


#: Asset types whose content `describe` reads.
DESCRIBED = ("vcf", "scoring_file", "genotypes", "reference_panel")


def describe(path: str | Path, asset: str | None = None, *, name: str | None = None) -> Detected:
    """Detect what `path` is and read the fields it states about itself. With `asset` given as a type
    this module does not read (a distribution, a report, …), nothing is detected."""
    p = Path(path)
    if p.is_dir():
        raise InputError("is a directory, not a file", file=p, hint="give one file")
    if not p.exists():
        raise InputError("file does not exist", file=p)
    if not p.is_file():
        raise InputError("is not a regular file (device, FIFO or socket)", file=p)
    if asset is not None and asset not in DESCRIBED:
        return Detected(asset=None)
    head = _head(p)
    if head.startswith("##fileformat=VCF"):
        return _vcf(p)
    if sniff_array(p) is not None:
        return _array(p, name or p.name)
    if (name or p.name).lower().endswith((".pgen", ".bed")):
        return _plink(p)
    if asset == "scoring_file" or _looks_like_scorefile(head):
        return _scorefile(p)
    return Detected(asset=None, notes=["content not recognised: give the asset type"])


def _head(p: Path, n: int = 1 << 16) -> str:
    """The first bytes of the text (gunzipped when gzip), decoded leniently."""
    with open(p, "rb") as fh:
        raw = fh.read(n)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = zlib.decompressobj(31).decompress(raw, n)
        except zlib.error:
            return ""
    return raw.decode("utf-8", "replace")


def _looks_like_scorefile(head: str) -> bool:
    """A PGS Catalog-style header, or a column line naming the effect allele and a weight."""
    lines = head.splitlines()
    if any(ln.startswith(("#pgs_id=", "#format_version=", "#omicspred_id=", "#pgs_name=")) for ln in lines[:40]):
        return True
    first = next((ln for ln in lines if ln and not ln.startswith("#")), "")
    return "effect_allele" in first.split("\t") and any(c in first for c in ("effect_weight", "dosage_0_weight"))


def _count_records(p: Path) -> int:
    n = 0
    opener = gzip.open if _is_gzip(p) else open
    with opener(p, "rb") as fh:
        while block := fh.read(1 << 22):
            n += block.count(b"\n")
    return n


def _is_gzip(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _vcf(p: Path) -> Detected:
    meta, columns, header_line = read_vcf_header(p)
    samples = columns[9:] if len(columns) > 9 else []
    build = detect_build(meta)
    try:
        n_lines = _count_records(p)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"gzip data is truncated or corrupt ({exc})", file=p) from exc
    records = n_lines - header_line
    is_gvcf = any(m.startswith(("##GVCFBlock", "##ALT=<ID=NON_REF", "##ALT=<ID=*")) for m in meta)
    fields: dict[str, Any] = {"sample_ids": samples, "n_samples": len(samples)}
    if len(samples) == 1:
        fields["sample_id"] = samples[0]
    if build.build:
        fields["genome_build"] = build.build
    if is_gvcf:
        fields["coverage"] = "gvcf"
    notes = [
        f"{'gVCF' if is_gvcf else 'VCF'} with {len(samples)} sample(s) and {records} record(s); "
        f"build {build.build or 'not stated'} ({build.detail})"
    ]
    return Detected(asset="vcf", fields=fields, notes=notes)


def _array(p: Path, name: str) -> Detected:
    arr = read_array(p)
    fields: dict[str, Any] = {"sample_id": array_sample_id(name), "n_samples": 1, "n_variants": arr.sites.height,
                              "source_format": arr.format, "coverage": "array"}  # fmt: skip
    if arr.build.build:
        fields["genome_build"] = arr.build.build
    notes = [
        f"{arr.format} array file: {arr.sites.height} sites ({arr.n_no_calls} no-calls, {arr.n_indel_probes} indel "
        f"probes); build {arr.build.build} ({arr.build.detail}); sites the chip lacks count as missing"
    ]
    return Detected(asset="genotypes", fields=fields, notes=notes)


def _plink(p: Path) -> Detected:
    kind, prefix = genotype_kind(p)
    src = PgenSource(prefix, kind)
    try:
        samples = src.samples.get_column("sample_id").to_list()
        fields: dict[str, Any] = {"n_samples": len(samples), "n_variants": src.variants.height,
                                  "source_format": kind}  # fmt: skip
        if len(samples) == 1:
            fields["sample_id"] = samples[0]
        if src.build.build:
            fields["genome_build"] = src.build.build
        notes = [f"{kind} with {len(samples)} sample(s) and {src.variants.height} variant(s); "
                 f"build {src.build.build or 'not stated'}"]  # fmt: skip
    finally:
        src.close()
    return Detected(asset="genotypes", fields=fields, notes=notes)


def _scorefile(p: Path) -> Detected:
    sf = read_scorefile(p)  # a scoring file that does not parse is refused with its line and field
    h = sf.header
    accessions = sf.accessions
    fields: dict[str, Any] = {
        "pgs_id": accessions[0] if len(accessions) == 1 else (h.pgs_id or ""),
        "pgs_name": h.pgs_name or "",
        "trait": h.trait_reported or "",
        "trait_efo": list(h.trait_efo),
        "genome_build": h.genome_build or "",
        "hm_build": (h.HmPOS_build or "") if sf.harmonised else "",
        "n_variants": sf.variants.height,
        "weight_type": h.weight_type or "",
    }
    fields = {k: v for k, v in fields.items() if v not in ("", [], None)}
    built = sf.build or "not stated"
    notes = [f"scoring file {', '.join(accessions)}: {sf.variants.height} rows, positions in {built}"
             + (f", trait {h.trait_reported}" if h.trait_reported else "")]  # fmt: skip
    return Detected(asset="scoring_file", fields=fields, notes=notes)


def check_given(detected: Detected, asset: str | None, given: dict[str, Any], file: str | Path) -> dict[str, Any]:
    """The fields to store: what the file says, with the user's values on top where they are valid
    and agree with it. Raises InputError for an invalid build, a contradicting build, an unknown
    sample id or an asset type the content is not."""
    if asset and detected.asset and asset != detected.asset and not (asset == "reference_panel"
                                                                    and detected.asset == "genotypes"):  # fmt: skip
        raise InputError(
            f"the file is a {detected.asset}, not a {asset}", file=file, field="asset",
            hint=f"store it as {detected.asset} (or leave the type out: it is detected)",
        )  # fmt: skip
    out = dict(detected.fields)
    for key in ("genome_build", "hm_build"):
        if key in given and given[key] not in (None, ""):
            try:
                build = normalize_build(str(given[key]))
            except ValueError as exc:
                raise InputError(str(exc), file=file, field=key, hint="GRCh37 (hg19) or GRCh38 (hg38)") from None
            stated = detected.fields.get(key)
            if stated and build and stated != build:
                raise InputError(
                    f"{key}={given[key]} contradicts the file, which says {stated}", file=file, field=key,
                    hint="leave it out (the file's own build is recorded) or check the file",
                )  # fmt: skip
            given = {**given, key: build or ""}
    samples = detected.fields.get("sample_ids")
    sid = given.get("sample_id")
    if sid and samples and str(sid) not in samples:
        shown = ", ".join(samples[:5]) + (f" and {len(samples) - 5} more" if len(samples) > 5 else "")
        raise InputError(f"sample {sid!r} is not in the file (it has {shown})", file=file, field="sample_id")
    out.update({k: v for k, v in given.items() if v not in (None, "")})
    return out


def store_file(
    store: Any, path: str | Path, asset: str | None = None, *, filename: str | None = None, **given: Any
) -> tuple[Any, Detected]:
    """Store a file with what it says about itself (and the user's fields, checked against it).

    The asset type is detected when not given; a plink `.pgen` is stored with its `.pvar`/`.psam`
    companions. `filename`: the name to record when `path` is not the file's own name (an open file
    descriptor's path). Returns the stored asset and what was detected."""
    from prsgazer.assets import asset_class
    from prsgazer.storage.plink import put_pfile

    name = filename or Path(path).name
    detected = describe(path, asset, name=name)
    kind = asset or detected.asset
    if kind is None:
        from prsgazer.assets import asset_keys

        raise InputError(
            "the file's type could not be detected", file=path, field="asset",
            hint=f"give the asset type, one of {', '.join(asset_keys())}",
        )  # fmt: skip
    fields = check_given(detected, kind, given, path)
    companions_given = given.get("pvar_cid") and given.get("psam_cid")
    if name.lower().endswith(".pgen") and kind in ("genotypes", "reference_panel") and not companions_given:
        return put_pfile(store, path, kind, **_only(kind, fields)), detected
    cls = asset_class(kind)
    values = cls.validate_keyvalues(_only(kind, fields))
    return store.upload(cls(path=Path(path), filename=name, **values)), detected


def _fields_of(kind: str) -> set[str]:
    from prsgazer.assets import asset_class

    return set(asset_class(kind).field_types())


def _only(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Detected fields the asset type has (a user's unknown field is kept, so the strict write names it)."""
    allowed = _fields_of(kind)
    return {k: v for k, v in fields.items() if k in allowed or k not in _DETECTED_KEYS}


#: Every field `describe` may fill in.
_DETECTED_KEYS = {"sample_ids", "n_samples", "sample_id", "genome_build", "coverage", "n_variants", "source_format",
                  "pgs_id", "pgs_name", "trait", "trait_efo", "hm_build", "weight_type"}  # fmt: skip
