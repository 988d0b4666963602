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
from prsgazer.ops.params import ScoreParams
from prsgazer.ops.runtime import cached, from_cache, measure, portable, result_key, scratch
from prsgazer.ops.version import code_version
from prsgazer.storage.plink import put_pfile


def normalize_stored(store: Any, vcf: Vcf, params: ScoreParams, coverage: str = "") -> Genotypes:
    """Normalise a stored VCF/gVCF into a genotype table (parquet), gVCF reference blocks as a companion.

    `coverage`: what the VCF covers (wgs, gvcf, wes, array, unknown); empty: the VCF asset's own
    `coverage` field, else detected at scoring time. Only the VCF quality filters of `params` apply.
    """
    filters = params.filters()
    key = result_key("normalize_genotypes", inputs={"vcf": vcf.cid}, params={"filters": filters.model_dump()})
    coverage = coverage or vcf.coverage
    if hit := cached(store, key, "genotypes"):
        return from_cache(hit[0])  # type: ignore[return-value]
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
    `genotypes` with its .pvar/.psam companions."""
    kind, p = genotype_kind(path)
    if kind == "vcf":
        vcf = store.upload(Vcf(path=Path(p), genome_build=build, coverage=coverage))
        return normalize_stored(store, vcf, params, coverage)  # type: ignore[arg-type]
    if kind == "pfile":
        asset = put_pfile(store, p, "genotypes", genome_build=build, source_format="pfile", coverage=coverage)
        return portable(asset)  # type: ignore[return-value]
    raise InputError(f"cannot store {kind} genotypes for a stored run", file=path, hint="give a VCF or a plink2 prefix")
