"""Genotypes into the store: a stored VCF normalised into a stored genotype table (`normalize_stored`,
the `normalize_genotypes` task), and a user's genotype file stored and made ready to score
(`ingest_genotypes`, the CLI's `--store`). See docs/workflows.md ("normalize_genotypes").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prsgazer.assets import GenotypeBlocks, Genotypes, Vcf
from prsgazer.engine.genotypes import genotype_kind, normalize_vcf
from prsgazer.errors import InputError
from prsgazer.fileio import open_output
from prsgazer.ops.params import ScoreParams
from prsgazer.ops.runtime import cached, code_version, from_cache, measure, portable, result_key, scratch
from prsgazer.storage.plink import put_pfile


def normalize_stored(store: Any, vcf: Vcf, params: ScoreParams, coverage: str = "") -> Genotypes:
    """Normalise a stored VCF/gVCF into a genotype table (parquet), gVCF reference blocks as a companion.

    `coverage`: what the VCF covers (wgs, gvcf, wes, array, unknown); empty: the VCF asset's own
    `coverage` field, else detected at scoring time. Only the VCF quality filters of `params` apply.
    """
    filters = params.filters()
    coverage = coverage or vcf.coverage
    # the coverage is in the key: one declared after a first run (the VCF's field set later) is not lost
    key = result_key("normalize_genotypes", inputs={"vcf": vcf.cid},
                     params={"filters": filters.model_dump(), "coverage": coverage})  # fmt: skip
    if hit := cached(store, key, Genotypes):
        return from_cache(hit[0])
    with measure("normalize_genotypes") as m, scratch("normalize_genotypes") as d:
        src = store.fetch(vcf.cid)
        out = d / "genotypes.parquet"
        summary = normalize_vcf(src.path, out, filters=filters)
        blocks_path = out.with_suffix(".blocks.parquet")
        blocks_cid = ""
        if blocks_path.exists():
            blocks = store.upload(GenotypeBlocks(path=blocks_path, vcf_cid=vcf.cid, n_blocks=summary.n_ref_blocks))
            blocks_cid = blocks.cid
        genotypes = store.upload(
            Genotypes(
                path=out,
                vcf_cid=vcf.cid,
                blocks_cid=blocks_cid,
                sample_id=summary.samples[0] if len(summary.samples) == 1 else vcf.sample_id,
                n_samples=len(summary.samples),
                n_variants=summary.n_variant_rows,
                genome_build=summary.build.build or vcf.genome_build,
                source_format="vcf",
                coverage="gvcf" if summary.is_gvcf else coverage,
                is_gvcf=summary.is_gvcf,
                task_key=key,
                params={"filters": filters.model_dump(mode="json")},
                code_version=code_version(),
                metrics=m.as_dict(),
            )
        )
    return portable(genotypes)


def ingest_genotypes(
    store: Any, path: str | Path, params: ScoreParams, *, build: str = "", coverage: str = ""
) -> Genotypes:
    """Store a user's genotype file and return the genotypes as the workflows score them: a VCF is
    stored as `vcf` and normalised (exactly as `normalize_genotypes`), a plink2 prefix is stored as
    `genotypes` with its .pvar/.psam companions, a consumer array file as `genotypes` as it is."""
    kind, p = genotype_kind(path)
    if kind == "vcf":
        vcf = store.upload(Vcf(path=Path(p), genome_build=build, coverage=coverage))
        return normalize_stored(store, vcf, params, coverage)
    if kind == "pfile":
        asset = put_pfile(store, p, "genotypes", genome_build=build, source_format="pfile", coverage=coverage)
        return portable(asset)
    if kind == "array":
        from prsgazer.ops.describe import store_file

        asset, _ = store_file(store, p, "genotypes", genome_build=build)
        return portable(asset)
    raise InputError(f"cannot store {kind} genotypes for a stored run", file=path, hint="give a VCF or a plink2 prefix")


def genotypes_in_zip(zip_path: str | Path, dest: str | Path) -> Path:
    """Unpack a zip holding one genotype input (a plink2 .pgen/.pvar/.psam fileset, or one VCF) into
    `dest` and return the path to store (the .pgen or the VCF). Members are unpacked flat by name only."""
    import zipfile

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = [m for m in zf.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
            for m in names:
                target = dest / Path(m.filename).name  # flat: a member's folders never reach outside `dest`
                with zf.open(m) as src, open_output(target, "wb", durable=False) as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
    except zipfile.BadZipFile as exc:
        raise InputError(f"not a zip archive ({exc})", file=zip_path) from None
    files = sorted(p for p in dest.iterdir() if p.is_file())
    pgens = [p for p in files if p.name.endswith(".pgen")]
    vcfs = [p for p in files if genotype_kind_or_none(p) == "vcf"]
    if len(pgens) == 1:
        return pgens[0]
    if any(p.name.endswith(".bed") for p in files):
        raise InputError(
            "plink1 filesets (.bed/.bim/.fam) cannot be stored yet",
            file=zip_path,
            hint="convert it first: plink2 --bfile PREFIX --make-pgen --out PREFIX, and zip the .pgen/.pvar/.psam",
        )
    if len(vcfs) == 1 and not pgens:
        return vcfs[0]
    found = ", ".join(p.name for p in files) or "nothing"
    raise InputError(
        f"expected one plink2 fileset or one VCF in the zip, found {found}",
        file=zip_path,
        hint="zip PREFIX.pgen, PREFIX.pvar and PREFIX.psam together",
    )


def genotype_kind_or_none(path: Path) -> str | None:
    """The genotype kind of a file by its name (vcf, pfile, bfile, parquet), or None."""
    try:
        return genotype_kind(path)[0]
    except InputError:
        return None
