"""Genotypes: one small interface (`GenotypeSource`) over plink2 pfiles, plink1 bfiles and VCFs
normalised to parquet — hard calls and imputed dosages —, plus what decides how they are read: the
genome build, the absent-site policy of a single person's VCF, reference allele frequencies and
multi-allelic sites. See docs/engine.md ("Genotypes", "Dosages", "Multi-allelic sites").

Modules: `source` (the interface, quality filters, dosage vocabulary), `plink` (pfile/bfile), `vcf`
(VCF/gVCF → parquet), `dosage` (VCF DS/HDS/GP as plink2 imports them), `table` (the normalised
parquet), `open` (any input by its kind), `build` (build detection and checks), `absent` (absent
sites: hom-ref or unknown), `freq` (allele frequencies), `sites` (the copies of REF at
multi-allelic sites).
"""

from prsgazer.engine.common import MISSING
from prsgazer.engine.genotypes.absent import (
    AbsentSiteReport,
    Coverage,
    absent_meaning,
    decide_coverage,
    fill_absent_sites,
)
from prsgazer.engine.genotypes.arrays import ArrayFile, ArraySource, array_sample_id, read_array, sniff_array
from prsgazer.engine.genotypes.build import BuildEvidence, check_build, detect_build, resolve_target_build
from prsgazer.engine.genotypes.freq import frequencies_for, read_frequencies
from prsgazer.engine.genotypes.multi import MultiSource, is_samplesheet, read_samplesheet
from prsgazer.engine.genotypes.open import genotype_files, genotype_kind, open_genotypes
from prsgazer.engine.genotypes.plink import PgenSource, pgen_has_dosages, read_bim, read_fam, read_psam, read_pvar
from prsgazer.engine.genotypes.sites import SiteSums, with_site_sums
from prsgazer.engine.genotypes.source import (
    DOSAGE_FIELDS,
    HARD_CALLS,
    VARIANT_SCHEMA,
    GenotypeSource,
    QualityFilters,
    check_dosage_fields,
    split_multiallelic,
    split_site_rows,
)
from prsgazer.engine.genotypes.table import ParquetSource
from prsgazer.engine.genotypes.vcf import VcfSummary, normalize_vcf, read_vcf_header

__all__ = [
    "DOSAGE_FIELDS",
    "HARD_CALLS",
    "MISSING",
    "VARIANT_SCHEMA",
    "AbsentSiteReport",
    "ArrayFile",
    "ArraySource",
    "BuildEvidence",
    "Coverage",
    "GenotypeSource",
    "MultiSource",
    "ParquetSource",
    "PgenSource",
    "QualityFilters",
    "SiteSums",
    "VcfSummary",
    "absent_meaning",
    "array_sample_id",
    "check_build",
    "check_dosage_fields",
    "decide_coverage",
    "detect_build",
    "fill_absent_sites",
    "frequencies_for",
    "genotype_files",
    "genotype_kind",
    "is_samplesheet",
    "normalize_vcf",
    "open_genotypes",
    "pgen_has_dosages",
    "read_array",
    "read_bim",
    "read_fam",
    "read_frequencies",
    "read_psam",
    "read_pvar",
    "read_samplesheet",
    "read_vcf_header",
    "resolve_target_build",
    "sniff_array",
    "split_multiallelic",
    "split_site_rows",
    "with_site_sums",
]
