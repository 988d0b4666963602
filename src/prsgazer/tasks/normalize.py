"""Task `normalize_genotypes`: a stored VCF → a stored normalized genotype table. See docs/workflows.md.

The work is `prsgazer.ops.genotypes.normalize_stored`, run off the event loop.
"""

from __future__ import annotations

from prsgazer.assets import Genotypes, Vcf
from prsgazer.tasks.env import compute
from prsgazer.tasks.runtime import run_op


@compute.task(retries=2)
async def normalize_genotypes(vcf: Vcf, coverage: str = "") -> Genotypes:
    """Normalize a VCF/gVCF into a genotype table (parquet), with gVCF reference blocks as a companion.

    Args:
        vcf: the stored VCF (its CID is what counts).
        coverage: what the VCF covers (wgs, gvcf, wes, array, unknown); empty: the VCF asset's own
            `coverage` field, else detected at scoring time.
    """
    from prsgazer.ops.genotypes import normalize_stored
    from prsgazer.ops.params import ScoreParams

    return await run_op(normalize_stored, vcf, ScoreParams(), coverage)
