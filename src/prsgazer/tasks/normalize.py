"""Task `normalize_genotypes`: a stored VCF → a stored normalized genotype table. See docs/workflows.md."""

from __future__ import annotations

import asyncio

from prsgazer.assets import GenotypeBlocks, Genotypes, Vcf
from prsgazer.tasks.env import compute
from prsgazer.tasks.runtime import cached, from_cache, input_errors_are_final, measure, portable, run_dir, task_key


@compute.task(retries=2)
async def normalize_genotypes(vcf: Vcf, coverage: str = "") -> Genotypes:
    """Normalize a VCF/gVCF into a genotype table (parquet), with gVCF reference blocks as a companion.

    Args:
        vcf: the stored VCF (its CID is what counts).
        coverage: what the VCF covers (wgs, gvcf, wes, array, unknown); empty: the VCF asset's own
            `coverage` field, else detected at scoring time.
    """
    with input_errors_are_final():
        from prsgazer.config import get_settings
        from prsgazer.engine.genotypes.vcf import normalize_vcf
        from prsgazer.engine.scoring.run import build_run_options
        from prsgazer.storage import default_store

        store = default_store()
        settings = get_settings()
        filters = build_run_options(settings).filters
        key = task_key("normalize_genotypes", inputs={"vcf": vcf.cid}, params={"filters": filters.key()})
        coverage = coverage or vcf.coverage
        if hit := cached(store, key, "genotypes"):
            return from_cache(hit[0])
        with measure("normalize_genotypes") as m:
            src = store.fetch(vcf.cid)
            out = run_dir("normalize_genotypes") / "genotypes.parquet"
            summary = await asyncio.to_thread(normalize_vcf, src.path, out, filters=filters)
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
                metrics=m.as_dict(),
            )
        )
        return portable(genotypes)
