"""Genotypes: one small interface (`GenotypeSource`) over plink2 pfiles, plink1 bfiles and VCFs
normalised to parquet, plus what decides how they are read: the genome build, the absent-site
policy of a single person's VCF, and reference allele frequencies. See docs/engine.md ("Genotypes").

Modules: `source` (the interface, quality filters), `plink` (pfile/bfile), `vcf` (VCF/gVCF →
parquet), `table` (the normalised parquet), `open` (any input by its kind), `build` (build
detection and checks), `absent` (absent sites: hom-ref or unknown), `freq` (allele frequencies).
"""

from prsgazer.engine.common import MISSING
from prsgazer.engine.genotypes.absent import AbsentSiteReport, Coverage, decide_coverage, fill_absent_sites
from prsgazer.engine.genotypes.build import BuildEvidence, check_build, detect_build, resolve_target_build
from prsgazer.engine.genotypes.freq import frequencies_for, read_frequencies
from prsgazer.engine.genotypes.open import genotype_files, genotype_kind, open_genotypes
from prsgazer.engine.genotypes.plink import PgenSource, read_bim, read_fam, read_psam, read_pvar
from prsgazer.engine.genotypes.source import VARIANT_SCHEMA, GenotypeSource, QualityFilters, split_multiallelic
from prsgazer.engine.genotypes.table import ParquetSource
from prsgazer.engine.genotypes.vcf import VcfSummary, normalize_vcf, read_vcf_header

__all__ = [
    "MISSING",
    "VARIANT_SCHEMA",
    "AbsentSiteReport",
    "BuildEvidence",
    "Coverage",
    "GenotypeSource",
    "ParquetSource",
    "PgenSource",
    "QualityFilters",
    "VcfSummary",
    "check_build",
    "decide_coverage",
    "detect_build",
    "fill_absent_sites",
    "frequencies_for",
    "genotype_files",
    "genotype_kind",
    "normalize_vcf",
    "open_genotypes",
    "read_bim",
    "read_fam",
    "read_frequencies",
    "read_psam",
    "read_pvar",
    "read_vcf_header",
    "resolve_target_build",
    "split_multiallelic",
]
