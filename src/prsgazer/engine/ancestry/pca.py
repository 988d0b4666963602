"""Reference PCA streamed from a panel's genotypes: unrelated samples, variant QC, LD pruning and a
truncated SVD of the standardised genotype matrix. See docs/ancestry.md ("Reference PCA").

Two passes over the panel (three with the kinship estimate), each reading `block_variants` variants at
a time, so memory is O(n² + block·n), independent of the number of variants:

1. per block: genotype counts → QC (`qc.genotype_filter`) → standardise z = (g − mean)/sd with the
   empirical sd of the PCA samples, missing calls at 0 (FRAPOSA's `standardize`) → greedy LD pruning
   (`ld.LdPruner`) → the Gram matrix G += Zᵀ Z of the kept rows (float32 products summed in float64);
2. G = V S² Vᵀ: the top K = 4·n_pcs eigenpairs only (LAPACK `dsyevx`) give the reference scores V·S,
   and a second pass computes the loadings U = Z V S⁻¹ (float64), so X ≈ U S Vᵀ exactly on those K
   components.

This is the exact truncated SVD FRAPOSA computes (`eig_ref`: eigendecomposition of XᵀX) without ever
holding X. Signs are fixed so that each component's largest |V| entry is positive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl
import scipy.linalg
from threadpoolctl import threadpool_limits

from prsgazer.engine.ancestry.kinship import greedy_unrelated, king_robust
from prsgazer.engine.ancestry.ld import LdPruner
from prsgazer.engine.ancestry.model import AncestryPca, PcaSettings
from prsgazer.engine.ancestry.qc import (
    QcCounts,
    block_stats,
    eligible_sites,
    genotype_filter,
    standardize,
)
from prsgazer.engine.common import MISSING, one_blas_thread
from prsgazer.engine.genotypes.source import GenotypeSource
from prsgazer.engine.reference.panel import Panel
from prsgazer.errors import InputError
from prsgazer.logs import logger


@one_blas_thread
def reference_pca(
    source: GenotypeSource,
    settings: PcaSettings,
    *,
    exclude: Sequence[str] | None = None,
    labels: pl.DataFrame | None = None,
) -> AncestryPca:
    """The reference PCA of a panel.

    Args:
        source: the panel's genotypes (a `Panel`, or any `GenotypeSource`).
        settings: QC, LD pruning, number of PCs, genome build.
        exclude: sample ids to leave out (a relatedness list such as plink2's `.king.cutoff.out.id`).
            None computes KING-robust kinship (`settings.king_cutoff`; None there keeps every sample).
        labels: `sample_id superpopulation population` (default: a `Panel`'s `.psam` table).
    """
    declared = source.build.build
    if declared is not None and declared != settings.genome_build:
        raise InputError(
            f"the panel is {declared} ({source.build.detail}) but the PCA settings say {settings.genome_build}",
            file=source.path,
            hint="the build decides which long-range LD regions are excluded",
        )
    labels = _labels(source, labels)
    warnings: list[str] = []
    if labels.get_column("superpopulation").null_count() == labels.height:
        warnings.append("no superpopulation labels: the HWE test ran on the pooled panel (Wahlund effect)")
    counts = QcCounts()
    sites = eligible_sites(source.variants, settings.genome_build, counts)
    if sites.height == 0:
        raise InputError("no panel variant passes the site rules (autosomal biallelic non-ambiguous SNPs)")
    ids = source.samples.get_column("sample_id").to_list()
    relatedness = "none"
    if exclude is not None:
        relatedness = "list"
        excluded = set(exclude)
        unknown = excluded.difference(ids)
        if unknown:
            warnings.append(f"{len(unknown)} id(s) of the relatedness list are not panel samples (ignored)")
        drop = np.asarray([i for i, s in enumerate(ids) if s in excluded], dtype=np.int64)
    elif settings.king_cutoff is not None:
        relatedness = "king"
        drop = _king_exclusions(source, sites, settings)
    else:
        drop = np.empty(0, dtype=np.int64)
    cols = np.setdiff1d(np.arange(len(ids)), drop)
    if len(cols) <= settings.n_components + 1:
        raise InputError(
            f"{len(cols)} unrelated panel samples; the PCA needs more than {settings.n_components + 1}",
            hint="use a larger panel or fewer PCs",
        )
    pca_labels = labels[cols.tolist()]
    groups = _group_columns(pca_labels.get_column("superpopulation"))
    kept, gram = _first_pass(source, sites, cols, groups, settings, counts)
    model = _decompose(source, kept, cols, gram, settings)
    return AncestryPca(
        settings=settings,
        variants=kept.drop("vidx"),
        loadings=model[0],
        singular_values=model[1],
        samples=pca_labels,
        scores=model[2],
        counts=counts,
        n_related_excluded=len(drop),
        relatedness=relatedness,
        warnings=warnings,
    )


@one_blas_thread
def restricted_pca(model: AncestryPca, source: GenotypeSource, keep: np.ndarray) -> AncestryPca:
    """The same PCA on a subset of its variants (rows `keep` of `model.variants`): same samples, same
    standardisation, no further QC or pruning. `project` uses it when a target shares too few variants."""
    sites = _locate(model, source)
    ids = source.samples.get_column("sample_id").to_list()
    where = {s: i for i, s in enumerate(ids)}
    missing = [s for s in model.samples.get_column("sample_id").to_list() if s not in where]
    if missing:
        raise InputError(f"{len(missing)} PCA sample(s) are not in the panel (e.g. {missing[0]})")
    cols = np.asarray([where[s] for s in model.samples.get_column("sample_id").to_list()], dtype=np.int64)
    kept = sites[np.asarray(keep, dtype=np.int64).tolist()]
    settings = model.settings
    gram = np.zeros((len(cols), len(cols)), dtype=np.float64)
    for lo in range(0, kept.height, settings.block_variants):
        part = kept.slice(lo, settings.block_variants)
        z = _standardized(source, part, cols, np.float32)
        gram += (z.T @ z).astype(np.float64)
    u, s, scores = _decompose(source, kept, cols, gram, settings)
    return model.model_copy(
        update={"variants": kept.drop("vidx"), "loadings": u, "singular_values": s, "scores": scores}
    )


# --------------------------------------------------------------------------------------------------


def _labels(source: GenotypeSource, labels: pl.DataFrame | None) -> pl.DataFrame:
    ids = source.samples.select("sample_id")
    if labels is None:
        if isinstance(source, Panel):
            labels = source.sample_table
        else:
            labels = ids.with_columns(
                superpopulation=pl.lit(None, dtype=pl.String), population=pl.lit(None, dtype=pl.String)
            )
    table = ids.join(
        labels.select("sample_id", "superpopulation", "population"), on="sample_id", how="left", maintain_order="left"
    )
    return table.select("sample_id", "superpopulation", "population")


def _group_columns(superpop: pl.Series) -> list[np.ndarray]:
    """Column indices per superpopulation (unlabelled samples form one group), for the HWE test."""
    codes = superpop.fill_null("\x00unlabelled").to_numpy()
    return [np.flatnonzero(codes == g) for g in sorted(set(codes.tolist()))]


def _blocks(source: GenotypeSource, sites: pl.DataFrame, size: int) -> Iterator[tuple[pl.DataFrame, np.ndarray]]:
    for lo in range(0, sites.height, size):
        part = sites.slice(lo, size)
        yield part, source.read(part.get_column("vidx").to_numpy())


def _king_exclusions(source: GenotypeSource, sites: pl.DataFrame, settings: PcaSettings) -> np.ndarray:
    """Samples to drop by KING-robust kinship on up to `king_variants` evenly spread common variants."""
    step = max(1, sites.height // (2 * settings.king_variants))
    subset = sites.gather_every(step)
    n = source.n_samples
    used = 0

    def common() -> Iterator[np.ndarray]:
        nonlocal used
        for _, g in _blocks(source, subset, settings.block_variants):
            called = (g != MISSING).sum(axis=1)
            alt = np.where(g == MISSING, 0, g).sum(axis=1, dtype=np.int64)
            with np.errstate(divide="ignore", invalid="ignore"):
                f = np.where(called > 0, alt / (2.0 * called), 0.0)
            ok = (np.minimum(f, 1 - f) >= 0.05) & (called >= 0.9 * n)
            g = g[ok][: settings.king_variants - used]
            used += len(g)
            if len(g):
                yield g
            if used >= settings.king_variants:
                return

    phi = king_robust(common())
    assert settings.king_cutoff is not None
    drop = greedy_unrelated(phi, settings.king_cutoff)
    logger.debug(f"KING-robust on {used} variants: {len(drop)} related sample(s) excluded")
    return drop


def _first_pass(
    source: GenotypeSource,
    sites: pl.DataFrame,
    cols: np.ndarray,
    groups: list[np.ndarray],
    settings: PcaSettings,
    counts: QcCounts,
) -> tuple[pl.DataFrame, np.ndarray]:
    n = len(cols)
    every = len(cols) == source.n_samples and bool((cols == np.arange(n)).all())
    pruner = LdPruner(settings.ld, n)
    gram = np.zeros((n, n), dtype=np.float64)
    pending: list[np.ndarray] = []  # kept standardised rows, multiplied in batches of ≥ block_variants
    kept_parts: list[pl.DataFrame] = []

    def flush() -> None:
        if pending:
            zk = np.concatenate(pending)
            gram[...] += zk.T @ zk  # float32 syrk, summed in float64
            pending.clear()

    for part, g_all in _blocks(source, sites, settings.block_variants):
        g = g_all if every else g_all[:, cols]
        stats = block_stats(g, groups)
        ok = genotype_filter(stats, n, settings.qc, counts)
        if not ok.any():
            continue
        mean, sd = _moments(stats, ok)
        z = standardize(g[ok], mean, sd, np.float32)
        passed = part.filter(pl.Series(ok))
        with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only contend
            keep = pruner.add(z, passed.get_column("chrom").to_numpy(), passed.get_column("pos").to_numpy())
        counts.ld_pruned += int((~keep).sum())
        if keep.any():
            pending.append(z[keep])
            if sum(len(x) for x in pending) >= settings.block_variants:
                flush()
            kept_parts.append(
                passed.filter(pl.Series(keep)).with_columns(
                    alt_freq=pl.Series(mean[keep] / 2.0), sd=pl.Series(sd[keep])
                )
            )
    flush()
    if not kept_parts:
        raise InputError("no panel variant passed QC and LD pruning", hint="check the panel, or relax the QC settings")
    kept = pl.concat(kept_parts)
    counts.kept = kept.height
    if kept.height <= settings.n_components:
        raise InputError(
            f"{kept.height} variants passed QC and LD pruning; the PCA needs more than {settings.n_components}"
        )
    return kept, gram


def _moments(stats, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) sd of the ALT counts of the passing rows, over non-missing calls."""
    total = np.sum(stats.groups, axis=0)[ok].astype(np.float64)
    called = total.sum(axis=1)
    mean = (total[:, 1] + 2 * total[:, 2]) / called
    second = (total[:, 1] + 4 * total[:, 2]) / called
    sd = np.sqrt(np.maximum(second - mean * mean, 0.0))
    sd[sd == 0] = 1.0
    return mean, sd


def _standardized(source: GenotypeSource, part: pl.DataFrame, cols: np.ndarray, dtype: type) -> np.ndarray:
    g = source.read(part.get_column("vidx").to_numpy())[:, cols]
    mean = 2.0 * part.get_column("alt_freq").to_numpy()
    return standardize(g, mean, part.get_column("sd").to_numpy(), dtype)


def _decompose(
    source: GenotypeSource, kept: pl.DataFrame, cols: np.ndarray, gram: np.ndarray, settings: PcaSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U, s, V·s) of the top K components from the Gram matrix and a second pass for the loadings."""
    k = settings.n_components
    if kept.height <= k or len(cols) <= k + 1:
        raise InputError(f"too few variants ({kept.height}) or samples ({len(cols)}) for {k} components")
    n = gram.shape[0]
    # only the top k eigenpairs (LAPACK dsyevx): a fraction of the cost of all n of them
    evals, evecs = scipy.linalg.eigh(gram, subset_by_index=[n - k, n - 1], driver="evx")
    s = np.sqrt(np.maximum(evals[::-1], 0.0))
    v = evecs[:, ::-1]
    # sign: largest |entry| of each component positive (deterministic given the same Gram matrix)
    flip = np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(k)])
    v = v * np.where(flip == 0, 1.0, flip)
    if s[-1] <= 0:
        raise InputError(f"the standardised genotypes have rank below {k}", hint="use more variants or samples")
    vs = v / s
    u = np.empty((kept.height, k), dtype=np.float64)
    for lo in range(0, kept.height, settings.block_variants):
        part = kept.slice(lo, settings.block_variants)
        u[lo : lo + part.height] = _standardized(source, part, cols, np.float64) @ vs
    return u, s, v * s


def _locate(model: AncestryPca, source: GenotypeSource) -> pl.DataFrame:
    """The model's variants with their `vidx` in `source` (same panel: same chrom, pos, ref, alt)."""
    key = ["chrom", "pos", "ref", "alt"]
    found = model.variants.join(source.variants.select("vidx", *key), on=key, how="left", maintain_order="left")
    if found.get_column("vidx").null_count():
        raise InputError("the panel lacks some of the PCA's variants", hint="use the panel the PCA was computed on")
    return found
