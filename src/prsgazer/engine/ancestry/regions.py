"""Long-range linkage-disequilibrium regions left out of the reference PCA. See docs/ancestry.md.

Large inversions and other regions of extended LD (the MHC on chromosome 6, the chromosome 8 inversion, …)
would otherwise dominate principal components with local haplotype structure instead of genome-wide
ancestry (Price et al. 2008, "Long-range LD can confound genome scans in admixed populations",
AJHG 83:132-135, doi:10.1016/j.ajhg.2008.06.005; Anderson et al. 2010, "Data quality control in genetic
case-control association studies", Nat Protoc 5:1564-1573, doi:10.1038/nprot.2010.116).

The intervals are the "high-LD regions" lists distributed with plinkQC (inst/extdata/high-LD-regions-hg19-GRCh37.txt
and high-LD-regions-hg38-GRCh38.txt, after https://genome.sph.umich.edu/wiki/Regions_of_high_linkage_disequilibrium_(LD)),
which the PGS Catalog calculator passes to `plink2 --exclude range` before its reference PCA
(pgsc_calc assets/ancestry/). GRCh38 intervals are the lift-over of the GRCh37 ones, so some GRCh37
regions arrive in several pieces. Coordinates are 1-based and inclusive, as plink reads them.
"""

from __future__ import annotations

import numpy as np

#: (chromosome, first base, last base), 1-based inclusive, per genome build.
LONG_RANGE_LD: dict[str, tuple[tuple[str, int, int], ...]] = {
    "GRCh37": (
        ("1", 48227412, 52227412), ("2", 86146488, 101133568), ("2", 89563673, 89564169),
        ("2", 98080299, 98080324), ("2", 183291754, 190291755), ("3", 47524995, 50024996),
        ("3", 83417309, 86917310), ("5", 44464242, 50464243), ("5", 128972100, 131972101),
        ("6", 25392020, 33392022), ("6", 56892040, 63942041), ("6", 139958306, 142458307),
        ("7", 55032505, 66362565), ("8", 7962589, 11962591), ("8", 42880842, 49837447),
        ("8", 111930823, 114930824), ("10", 36959993, 43679994), ("11", 87860351, 90860352),
        ("12", 33108732, 41713733), ("20", 32536338, 35066586),
    ),
    "GRCh38": (
        ("1", 47761740, 51761740), ("1", 125169943, 125170022), ("1", 144106678, 144106709),
        ("1", 181955019, 181955047), ("2", 85919365, 100517106), ("2", 87416141, 87416186),
        ("2", 87417804, 87417863), ("2", 87418924, 87418981), ("2", 89917298, 89917322),
        ("2", 135275091, 135275210), ("2", 182427027, 189427029), ("2", 207609786, 207609808),
        ("3", 47483505, 49987563), ("3", 83368158, 86868160), ("5", 44464140, 51168409),
        ("5", 129636407, 132636409), ("6", 25391792, 33424245), ("6", 26726947, 26726981),
        ("6", 57788603, 58453888), ("6", 61109122, 61357029), ("6", 61424410, 61424451),
        ("6", 139637169, 142137170), ("7", 54964812, 66897578), ("7", 62182500, 62277073),
        ("8", 8105067, 12105082), ("8", 43025699, 48924888), ("8", 47303500, 47317337),
        ("8", 110918594, 113918595), ("9", 40365644, 40365693), ("9", 64198500, 64200392),
        ("9", 88958735, 88959017), ("10", 36671065, 43184546), ("10", 41693521, 41885273),
        ("11", 88127183, 91127184), ("12", 32955798, 41319931), ("12", 34639034, 34639084),
        ("14", 87391719, 87391996), ("14", 94658026, 94658080), ("17", 43159541, 43159574),
        ("20", 4031884, 4032441), ("20", 33948532, 36438183), ("22", 30060084, 30060162),
        ("22", 42980497, 42980522),
    ),
}  # fmt: skip


def long_range_ld_mask(chrom: np.ndarray, pos: np.ndarray, build: str) -> np.ndarray:
    """True where (chrom, pos) lies in one of `build`'s long-range LD regions.

    Args:
        chrom: normalised chromosome names (no `chr` prefix).
        pos: 1-based positions.
        build: `GRCh37` or `GRCh38`.
    """
    if build not in LONG_RANGE_LD:
        raise ValueError(f"no long-range LD regions for build {build!r} (GRCh37 or GRCh38)")
    chrom = np.asarray(chrom).astype(str)
    pos = np.asarray(pos, dtype=np.int64)
    mask = np.zeros(len(pos), dtype=bool)
    for c, start, end in LONG_RANGE_LD[build]:
        mask |= (chrom == c) & (pos >= start) & (pos <= end)
    return mask
