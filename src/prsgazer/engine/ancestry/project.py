"""Projection of target samples (one person or a cohort, one code path) onto a reference PCA.
See docs/ancestry.md ("Projection").

1. Match the PCA variants to the target's by chromosome, position and alleles: same orientation,
   REF/ALT swapped (dosage 2 − g), or either of those on the other strand (the PCA holds no
   strand-ambiguous SNPs, so a complement is never mistaken for a swap). A PCA variant that matches
   several target rows is left out.
2. Standardise each target genotype with the reference mean and sd; missing calls and unshared
   variants are 0 (the reference mean).
3. Correct the shrinkage with OADP (`oadp`), or, with `method="simple"`, return the plain projection Uᵀb
   (FRAPOSA's `sp`, shrunk; for comparison).

Unshared variants at the mean shrink the PCs further, by about the shared fraction. When a target
shares less than `refit_below` of the PCA's variants and the panel is given, the reference
decomposition is recomputed on the shared variants (`pca.restricted_pca`; pgsc_calc likewise runs
its reference PCA on the variants it shares with the target) and OADP's Procrustes step maps the
result straight into the stored PCs' space. Without the panel a warning says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from threadpoolctl import threadpool_limits

from prsgazer.engine.ancestry.model import AncestryPca
from prsgazer.engine.ancestry.oadp import decomposition, oadp
from prsgazer.engine.ancestry.pca import restricted_pca
from prsgazer.engine.common import MISSING, complement_expr, one_blas_thread
from prsgazer.engine.genotypes.source import GenotypeSource
from prsgazer.errors import InputError

#: Variants read per block: fixed, so that a sample's sums run in the same order whatever the cohort size.
BLOCK_VARIANTS = 2048
#: Samples standardised at once within a block (bounds memory for large cohorts).
BLOCK_SAMPLES = 1024


class ProjectOptions(BaseModel):
    """How targets are projected."""

    method: Literal["oadp", "simple"] = "oadp"
    refit_below: float = Field(
        default=0.95, ge=0.0, le=1.0, description="Shared fraction below which the panel (when given) is refitted."
    )
    warn_below: float = Field(default=0.8, ge=0.0, le=1.0, description="Shared fraction below which to warn.")
    min_shared: int = Field(default=1000, ge=1, description="Fewer shared variants than this: warn.")
    max_sample_missing: float = Field(default=0.1, ge=0.0, le=1.0, description="Per-sample missing rate to warn at.")


class Projection(BaseModel):
    """Projected PCs of target samples, and how they were obtained."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pcs: pl.DataFrame = Field(description="sample_id PC1 … PCk missing_rate (missing among shared variants).")
    n_model_variants: int
    n_shared: int
    n_swapped: int = Field(description="Shared variants with REF/ALT swapped relative to the PCA.")
    n_strand_flipped: int
    method: str = Field(description="oadp, oadp-refit (reference refitted on the shared variants) or simple.")
    warnings: list[str] = Field(default_factory=list)

    @property
    def overlap(self) -> float:
        return self.n_shared / self.n_model_variants if self.n_model_variants else 0.0

    def matrix(self) -> np.ndarray:
        """(samples × k) PCs."""
        return self.pcs.select(pl.col(r"^PC\d+$")).to_numpy()


def match_pca_variants(model_variants: pl.DataFrame, target_variants: pl.DataFrame) -> pl.DataFrame:
    """Shared variants: `row` (PCA variant row), `vidx` (target row), `swap`, `flip` — one row per PCA
    variant that matches exactly one target row, sorted by `row`."""
    m = model_variants.select("chrom", "pos", "ref", "alt").with_row_index("row")
    t = target_variants.select(
        "vidx", "chrom", "pos", pl.col("ref").str.to_uppercase(), pl.col("alt").str.to_uppercase()
    )
    t = t.with_columns(cref=complement_expr("ref"), calt=complement_expr("alt"))
    j = m.join(t, on=["chrom", "pos"], how="inner", suffix="_t")
    orient = (
        pl.when((pl.col("ref_t") == pl.col("ref")) & (pl.col("alt_t") == pl.col("alt"))).then(pl.lit(0))
        .when((pl.col("ref_t") == pl.col("alt")) & (pl.col("alt_t") == pl.col("ref"))).then(pl.lit(1))
        .when((pl.col("cref") == pl.col("ref")) & (pl.col("calt") == pl.col("alt"))).then(pl.lit(2))
        .when((pl.col("cref") == pl.col("alt")) & (pl.col("calt") == pl.col("ref"))).then(pl.lit(3))
        .otherwise(None)
    )  # fmt: skip
    j = j.with_columns(orient=orient).drop_nulls("orient")
    j = j.filter(pl.len().over("row") == 1)
    return j.select(
        "row",
        pl.col("vidx").cast(pl.Int64),
        swap=pl.col("orient").is_in([1, 3]),
        flip=pl.col("orient").is_in([2, 3]),
    ).sort("row")


@one_blas_thread
def project(
    model: AncestryPca,
    source: GenotypeSource,
    *,
    samples: Sequence[str] | None = None,
    options: ProjectOptions | None = None,
    panel: GenotypeSource | None = None,
) -> Projection:
    """Project `source`'s samples (or the listed ones) onto the reference PCA.

    Args:
        model: the reference PCA.
        source: target genotypes (a person's normalised VCF, a cohort's pfile, …).
        samples: sample ids to project (default: all, in file order).
        options: projection settings.
        panel: the panel the PCA was computed on; needed only to refit when few variants are shared.
    """
    options = options or ProjectOptions()
    ids = source.samples.get_column("sample_id").to_list()
    if samples is None:
        cols = np.arange(len(ids))
    else:
        where = {s: i for i, s in enumerate(ids)}
        unknown = [s for s in samples if s not in where]
        if unknown:
            raise InputError(f"sample {unknown[0]!r} is not in the genotypes", file=source.path, field="sample_id")
        cols = np.asarray([where[s] for s in samples], dtype=np.int64)
    shared = match_pca_variants(model.variants, source.variants)
    n_model = model.variants.height
    n_shared = shared.height
    if n_shared == 0:
        raise InputError(
            "the genotypes share no variant with the reference PCA",
            file=source.path,
            hint="check the genome build and chromosome names of the genotypes against the panel's",
        )
    warnings: list[str] = []
    frac = n_shared / n_model
    if n_shared < options.min_shared:
        warnings.append(
            f"only {n_shared} of the reference PCA's {n_model} variants are in the genotypes: the PCs are unreliable"
        )
    method: str = options.method
    rows = shared.get_column("row").to_numpy()
    use = model
    if options.method == "oadp" and frac < options.refit_below:
        if panel is not None:
            use = restricted_pca(model, panel, rows)
            rows = np.arange(n_shared)
            method = "oadp-refit"
        elif frac < options.warn_below:
            warnings.append(
                f"{frac:.0%} of the reference PCA's variants are in the genotypes; the others were set to the reference"
                " mean, which pulls the PCs towards the centre (give the panel to refit the PCA on the shared variants)"
            )
    c, norm2, n_missing = _project_raw(use, source, shared, rows, cols)
    d = model.n_pcs
    if options.method == "simple":
        pcs = c[:, :d]
    else:
        dec = decomposition(use.singular_values, use.scores, model.pcs)
        resid = np.sqrt(np.maximum(norm2 - np.sum(c * c, axis=1), 0.0))
        with threadpool_limits(limits=1, user_api="blas"):  # 41 × 41 SVDs: threads only add overhead
            rows_pcs = [oadp(dec, c[i], float(resid[i])) for i in range(len(cols))]
        pcs = np.stack(rows_pcs) if rows_pcs else np.empty((0, d))
    missing_rate = n_missing / n_shared
    high = int((missing_rate > options.max_sample_missing).sum())
    if high:
        warnings.append(
            f"{high} sample(s) miss more than {options.max_sample_missing:.0%} of the shared variants (set to the mean)"
        )
    frame = pl.DataFrame({"sample_id": [ids[i] for i in cols]}, schema={"sample_id": pl.String}).with_columns(
        *(pl.Series(f"PC{k + 1}", pcs[:, k], dtype=pl.Float64) for k in range(d)),
        pl.Series("missing_rate", missing_rate, dtype=pl.Float64),
    )
    return Projection(
        pcs=frame,
        n_model_variants=n_model,
        n_shared=n_shared,
        n_swapped=int(shared.get_column("swap").sum()),
        n_strand_flipped=int(shared.get_column("flip").sum()),
        method=method,
        warnings=warnings,
    )


def _project_raw(
    model: AncestryPca, source: GenotypeSource, shared: pl.DataFrame, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """c = Uᵀb (samples × K), ‖b‖² and missing counts over the shared variants, block by block."""
    u = model.loadings
    mean_all = 2.0 * model.variants.get_column("alt_freq").to_numpy()
    sd_all = model.variants.get_column("sd").to_numpy()
    vidx = shared.get_column("vidx").to_numpy()
    swap = shared.get_column("swap").to_numpy()
    m = len(cols)
    c = np.zeros((m, u.shape[1]))
    norm2 = np.zeros(m)
    n_missing = np.zeros(m, dtype=np.int64)
    for lo in range(0, len(vidx), BLOCK_VARIANTS):
        hi = min(lo + BLOCK_VARIANTS, len(vidx))
        order = np.argsort(vidx[lo:hi], kind="stable")  # sources read sorted rows fastest
        g_sorted = source.read(vidx[lo:hi][order])
        g = np.empty_like(g_sorted)
        g[order] = g_sorted
        r = rows[lo:hi]
        ub = u[r]
        mean, sd, sw = mean_all[r][:, None], sd_all[r][:, None], swap[lo:hi][:, None]
        for s0 in range(0, m, BLOCK_SAMPLES):
            gs = g[:, cols[s0 : s0 + BLOCK_SAMPLES]]
            miss = gs == MISSING
            dose = np.where(sw, 2 - gs, gs).astype(np.float64)
            z = (dose - mean) / sd
            z[miss] = 0.0
            for i in range(z.shape[1]):  # one sample at a time: the same sums alone or in a cohort
                zi = np.ascontiguousarray(z[:, i])
                c[s0 + i] += zi @ ub
                norm2[s0 + i] += zi @ zi
            n_missing[s0 : s0 + z.shape[1]] += miss.sum(axis=0)
    return c, norm2, n_missing
