"""Projection of held-out people: shrinkage-corrected PCs against their in-sample PCs, assignment to their own
superpopulation, one person vs a cohort, allele orientation, partial overlap."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.ancestry import (
    AncestryPca,
    ProjectOptions,
    assign,
    fit_similarity,
    match_pca_variants,
    project,
)
from prsgazer.engine.common import MISSING
from prsgazer.engine.genotypes import GenotypeSource, PgenSource
from prsgazer.engine.reference.panel import open_panel
from prsgazer.errors import InputError

from .helpers import Joined

#: PCs above the noise in this 20,000-SNP panel (singular values ~660, 400, 320, then a bulk from ~180 down):
#: the AFR, EAS and AMR axes; EUR and SAS separate only weakly.
N_AXES = 3


class Edited(GenotypeSource):
    """A source with its variant table and genotypes rewritten (in memory) by the test."""

    def __init__(self, src: GenotypeSource, variants: pl.DataFrame, transform) -> None:  # type: ignore[no-untyped-def]
        self.src, self.transform = src, transform
        self.path, self.kind, self.build = src.path, "edited", src.build
        self.variants = variants
        self.samples = src.samples

    def read(self, vidx: np.ndarray) -> np.ndarray:
        vidx = np.asarray(vidx)
        return self.transform(vidx, self.src.read(self.variants["orig"].to_numpy()[vidx]))


def _procrustes_map(target: np.ndarray, x: np.ndarray):  # type: ignore[no-untyped-def]
    """Rotation, scale and translation carrying x onto target (least squares)."""
    mx, mt = x.mean(axis=0), target.mean(axis=0)
    u, sv, vt = np.linalg.svd((target - mt).T @ (x - mx))
    rot, rho = vt.T @ u.T, sv.sum() / np.sum((x - mx) ** 2)
    return lambda a: (a - mx) @ rot * rho + mt


@pytest.fixture(scope="module")
def projected(anc_panel, anc_pca: AncestryPca):
    hold = PgenSource(anc_panel.holdout_prefix, "pfile")
    return project(anc_pca, hold), project(anc_pca, hold, options=ProjectOptions(method="simple"))


def test_projected_pcs_match_in_sample_pcs(anc_panel, anc_pca: AncestryPca, projected) -> None:
    """In-sample PCs: a PCA of panel + held-out people together on the same variants (dense, float64), mapped
    into the reference PCA's space by the Procrustes fit of the 800 panel samples. The held-out people's
    OADP PCs must match theirs: RMS error ≤ 5 % of each axis's reference sd, regression slope within 5 %
    of 1. The plain projection is reported beside it (shrunk: slope below 1 on the weaker axes)."""
    oadp_proj, simple_proj = projected
    with open_panel(anc_panel.prefix) as panel:
        joined = Joined(panel, PgenSource(anc_panel.holdout_prefix, "pfile"))
        key = ["chrom", "pos", "ref", "alt"]
        vidx = anc_pca.variants.join(joined.variants.select("vidx", *key), on=key, how="left", maintain_order="left")
        g = joined.read(vidx["vidx"].to_numpy()).astype(np.float64)
    z = (g - g.mean(axis=1, keepdims=True)) / g.std(axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(z.T @ z)  # float64, all samples: the in-sample PCs are √λ·v
    top = np.argsort(evals)[::-1][:N_AXES]
    in_sample = evecs[:, top] * np.sqrt(evals[top])
    to_ref = _procrustes_map(anc_pca.pcs[:, :N_AXES], in_sample[:800])
    want = to_ref(in_sample[800:])
    sd = anc_pca.pcs[:, :N_AXES].std(axis=0)
    report = {}
    for name, proj in (("oadp", oadp_proj), ("simple", simple_proj)):
        got = proj.matrix()[:, :N_AXES]
        rms = np.sqrt(np.mean((got - want) ** 2, axis=0)) / sd
        slope = np.array([np.polyfit(want[:, k], got[:, k], 1)[0] for k in range(N_AXES)])
        report[name] = (rms.round(4).tolist(), slope.round(4).tolist())
    print(f"held-out PCs vs in-sample (RMS error / sd, slope) per axis: {report}")
    rms, slope = map(np.asarray, report["oadp"])
    assert (rms <= 0.05).all(), report
    assert (np.abs(slope - 1) <= 0.05).all(), report
    assert oadp_proj.method == "oadp" and oadp_proj.overlap == 1.0 and not oadp_proj.warnings


def test_held_out_people_get_their_own_superpopulation(anc_pca: AncestryPca, projected, holdout_labels) -> None:
    proj, _ = projected
    sim = fit_similarity(anc_pca.pcs, anc_pca.samples["superpopulation"].to_list())
    out = assign(sim, proj.matrix(), proj.pcs["sample_id"].to_list())
    rate = float(np.mean(np.asarray(out["superpopulation"].to_list()) == np.asarray(holdout_labels)))
    print(f"held-out people assigned their own superpopulation: {rate:.1%} of {len(holdout_labels)}")
    assert rate >= 0.98
    assert len(holdout_labels) == 200


def test_one_person_equals_the_same_person_in_a_cohort(anc_panel, anc_pca: AncestryPca, projected) -> None:
    hold = PgenSource(anc_panel.holdout_prefix, "pfile")
    cohort, _ = projected
    for i in (0, 57, 199):
        sid = hold.samples["sample_id"][i]
        alone = project(anc_pca, hold, samples=[sid])
        assert alone.pcs.equals(cohort.pcs[i])  # bit for bit


def test_swapped_and_strand_flipped_alleles(anc_panel, anc_pca: AncestryPca, projected) -> None:
    """A target whose pvar lists some variants as ALT/REF (genotypes counted for the other allele) and some
    on the other strand projects to the same PCs."""
    hold = PgenSource(anc_panel.holdout_prefix, "pfile")
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    v = hold.variants.with_columns(orig=pl.col("vidx").cast(pl.Int64))
    swap = (v["vidx"] % 3 == 0).to_numpy()
    flip = (v["vidx"] % 3 == 1).to_numpy()
    ref, alt = v["ref"].to_numpy().copy(), v["alt"].to_numpy().copy()
    ref[swap], alt[swap] = v["alt"].to_numpy()[swap], v["ref"].to_numpy()[swap]
    ref[flip] = [comp[a] for a in ref[flip]]
    alt[flip] = [comp[a] for a in alt[flip]]
    edited_v = v.with_columns(ref=pl.Series(ref), alt=pl.Series(alt))

    def transform(vidx: np.ndarray, g: np.ndarray) -> np.ndarray:
        s = swap[vidx][:, None]
        return np.where(s & (g != MISSING), 2 - g, g).astype(np.int8)

    edited = Edited(hold, edited_v, transform)
    shared = match_pca_variants(anc_pca.variants, edited.variants)
    assert shared.height == anc_pca.variants.height
    got = project(anc_pca, edited, samples=hold.samples["sample_id"][:20].to_list())
    assert got.n_swapped == int(swap[shared["vidx"].to_numpy()].sum()) > 0
    assert got.n_strand_flipped == int(flip[shared["vidx"].to_numpy()].sum()) > 0
    np.testing.assert_array_equal(got.matrix(), projected[0].matrix()[:20])


def test_partial_overlap_warns_and_refits_with_the_panel(anc_panel, anc_pca: AncestryPca, projected) -> None:
    """A target with 40 % of the PCA variants: without the panel the PCs shrink towards 0 and a warning
    says so; with the panel the reference is refitted on the shared variants and the PCs stay close to
    the full-overlap ones."""
    hold = PgenSource(anc_panel.holdout_prefix, "pfile")
    rng = np.random.default_rng(4)
    keep = np.sort(rng.choice(hold.variants.height, size=int(0.4 * hold.variants.height), replace=False))
    v = hold.variants[keep.tolist()].with_columns(orig=pl.col("vidx").cast(pl.Int64)).with_row_index("vidx_new")
    v = v.drop("vidx").rename({"vidx_new": "vidx"}).with_columns(pl.col("vidx").cast(pl.UInt32))
    part = Edited(hold, v, lambda vidx, g: g)
    ids = hold.samples["sample_id"][:40].to_list()
    full = projected[0].matrix()[:40, :N_AXES]
    plain = project(anc_pca, part, samples=ids)
    assert plain.method == "oadp" and 0.3 < plain.overlap < 0.5
    assert any("pulls the PCs towards the centre" in w for w in plain.warnings)
    with open_panel(anc_panel.prefix) as panel:
        refit = project(anc_pca, part, samples=ids, panel=panel)
    assert refit.method == "oadp-refit" and not refit.warnings
    sd = anc_pca.pcs[:, :N_AXES].std(axis=0)
    err_plain = np.sqrt(np.mean((plain.matrix()[:, :N_AXES] - full) ** 2, axis=0)) / sd
    err_refit = np.sqrt(np.mean((refit.matrix()[:, :N_AXES] - full) ** 2, axis=0)) / sd
    slope_plain = np.array([np.polyfit(full[:, k], plain.matrix()[:, k], 1)[0] for k in range(N_AXES)])
    slope_refit = np.array([np.polyfit(full[:, k], refit.matrix()[:, k], 1)[0] for k in range(N_AXES)])
    print(
        f"40 % overlap vs full overlap, RMS error / sd: mean-imputed {err_plain.round(3)}, refit {err_refit.round(3)};"
        f" slope: mean-imputed {slope_plain.round(3)}, refit {slope_refit.round(3)}"
    )
    assert (err_refit < 0.1).all() and err_refit.mean() < err_plain.mean()
    assert (np.abs(slope_refit - 1) < 0.2).all() and (slope_plain < 0.6).all()  # 40 people: noisy slopes


def test_missing_calls_are_reported_and_few_shared_variants_warn(anc_panel, anc_pca: AncestryPca) -> None:
    hold = PgenSource(anc_panel.holdout_prefix, "pfile")
    v = hold.variants.with_columns(orig=pl.col("vidx").cast(pl.Int64))

    def holes(vidx: np.ndarray, g: np.ndarray) -> np.ndarray:
        g = g.copy()
        g[vidx % 4 == 0, 0] = MISSING  # sample 0 misses a quarter of its calls
        return g

    proj = project(anc_pca, Edited(hold, v, holes), samples=hold.samples["sample_id"][:3].to_list())
    rates = proj.pcs["missing_rate"].to_list()
    assert 0.2 < rates[0] < 0.3 and rates[1:] == [0.0, 0.0]
    assert any("1 sample(s) miss more than 10%" in w for w in proj.warnings)

    few = v[:500].with_columns(pl.col("vidx"))
    small = project(anc_pca, Edited(hold, few, lambda vidx, g: g), samples=hold.samples["sample_id"][:1].to_list())
    assert any("the PCs are unreliable" in w for w in small.warnings)

    none = v.with_columns(chrom=pl.lit("chr1"))  # un-normalised names match nothing
    with pytest.raises(InputError, match="share no variant"):
        project(anc_pca, Edited(hold, none, lambda vidx, g: g))
