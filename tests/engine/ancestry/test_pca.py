"""Reference PCA: the streamed decomposition against a dense SVD and plink2 --pca/--freq, the file format."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from prsgazer.engine.ancestry import AncestryPca, PcaSettings, reference_pca
from prsgazer.engine.reference.panel import open_panel
from prsgazer.errors import InputError


def _panel_rows(pca: AncestryPca, panel) -> np.ndarray:  # type: ignore[no-untyped-def]
    key = ["chrom", "pos", "ref", "alt"]
    found = pca.variants.join(panel.variants.select("vidx", *key), on=key, how="left", maintain_order="left")
    return found["vidx"].to_numpy()


def test_counts_add_up(anc_pca: AncestryPca) -> None:
    c = anc_pca.counts
    removed = (
        c.not_autosomal + c.not_biallelic_snp + c.ambiguous + c.duplicate_position + c.long_range_ld
        + c.missingness + c.maf + c.hwe + c.ld_pruned
    )  # fmt: skip
    assert c.n_input == 20_000 and removed + c.kept == c.n_input
    assert c.kept == anc_pca.variants.height == anc_pca.loadings.shape[0]
    assert c.ambiguous > 0 and c.long_range_ld > 0 and c.ld_pruned > 0
    assert anc_pca.scores.shape == (800, 40) and anc_pca.relatedness == "list"


def test_streamed_pca_equals_dense_decomposition(anc_panel, anc_pca: AncestryPca) -> None:
    """U, s and V·s equal a dense float64 decomposition of the whole standardised matrix (computed here
    independently: empirical mean and sd per variant, no missing calls in the panel)."""
    with open_panel(anc_panel.prefix) as panel:
        g = panel.read(_panel_rows(anc_pca, panel)).astype(np.float64)
    mean, sd = g.mean(axis=1), g.std(axis=1)
    np.testing.assert_allclose(2 * anc_pca.variants["alt_freq"].to_numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(anc_pca.variants["sd"].to_numpy(), sd, rtol=1e-12)
    z = (g - mean[:, None]) / sd[:, None]
    # dense float64: all eigenpairs of zᵀz (LAPACK syevd), s = √λ, U = z V / s
    evals, evecs = np.linalg.eigh(z.T @ z)
    order = np.argsort(evals)[::-1][:40]
    s, vt = np.sqrt(evals[order]), evecs[:, order].T
    u = z @ vt[:3].T / s[:3]
    np.testing.assert_allclose(anc_pca.singular_values, s[:40], rtol=2e-6)
    sign = np.sign(np.sum(vt[:10] * anc_pca.scores[:, :10].T, axis=1))
    scores = vt[:10].T * s[:10] * sign
    scale = anc_pca.scores[:, :10].std(axis=0)
    assert np.max(np.abs(anc_pca.scores[:, :10] - scores) / scale) < 1e-3
    np.testing.assert_allclose(anc_pca.loadings[:, :3], u[:, :3] * sign[:3], atol=1e-6)
    # the loadings are orthonormal and reproduce the scores: Uᵀ z = V·s
    np.testing.assert_allclose(anc_pca.loadings.T @ anc_pca.loadings, np.eye(40), atol=1e-6)  # float32 Gram
    np.testing.assert_allclose(z.T @ anc_pca.loadings, anc_pca.scores, atol=1e-6 * anc_pca.singular_values[0])


def test_pcs_agree_with_plink2_pca(anc_panel, anc_pca: AncestryPca, plink2: str, tmp_path: Path) -> None:
    """plink2 --pca on the same variants (it scales by the binomial sd √(2p(1−p)) instead of the empirical one):
    the three population axes correlate > 0.999 with ours."""
    (tmp_path / "ids.txt").write_text("\n".join(anc_pca.variants["id"].to_list()) + "\n")
    subprocess.run(
        [plink2, "--pfile", str(anc_panel.prefix), "--extract", str(tmp_path / "ids.txt"), "--pca", "5",
         "--out", str(tmp_path / "p")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    vec = pl.read_csv(tmp_path / "p.eigenvec", separator="\t")
    assert vec["#IID"].to_list() == anc_pca.samples["sample_id"].to_list()
    for k in range(3):
        r = np.corrcoef(vec[f"PC{k + 1}"].to_numpy(), anc_pca.pcs[:, k])[0, 1]
        assert abs(r) > 0.999, (k, r)


def test_frequencies_match_plink2_freq(anc_panel, anc_pca: AncestryPca, plink2: str, tmp_path: Path) -> None:
    subprocess.run(
        [plink2, "--pfile", str(anc_panel.prefix), "--freq", "--out", str(tmp_path / "f")],
        check=True,
        capture_output=True,
    )
    freq = pl.read_csv(tmp_path / "f.afreq", separator="\t").select("ID", "ALT_FREQS")
    got = anc_pca.variants.select("id", "alt_freq").join(freq, left_on="id", right_on="ID", how="left")
    np.testing.assert_allclose(got["alt_freq"].to_numpy(), got["ALT_FREQS"].to_numpy(), atol=5e-7)
    maf = np.minimum(got["alt_freq"].to_numpy(), 1 - got["alt_freq"].to_numpy())
    assert maf.min() >= 0.01


def test_file_round_trip_and_deterministic_bytes(anc_panel, anc_pca: AncestryPca, tmp_path: Path) -> None:
    a = anc_pca.write(tmp_path / "a.parquet")
    back = AncestryPca.read(a)
    assert back.variants.equals(anc_pca.variants) and back.samples.equals(anc_pca.samples)
    assert np.array_equal(back.loadings, anc_pca.loadings) and np.array_equal(back.scores, anc_pca.scores)
    assert np.array_equal(back.singular_values, anc_pca.singular_values)
    assert back.settings == anc_pca.settings and back.counts == anc_pca.counts
    assert back.pc_frame().columns == ["sample_id", "superpopulation", "population", *[f"PC{k}" for k in range(1, 11)]]
    # the same input computed again gives the same bytes
    with open_panel(anc_panel.prefix) as panel:
        again = reference_pca(panel, PcaSettings(genome_build="GRCh38"), exclude=[])
    b = again.write(tmp_path / "b.parquet")
    assert a.read_bytes() == b.read_bytes()


def test_same_bytes_whatever_the_blas_threads(anc_panel, anc_pca: AncestryPca, tmp_path: Path) -> None:
    """A stored PCA (and the projections and adjustments made from it) is content-addressed: OpenBLAS
    splits products by thread count, so the engine runs them on one thread; more cores, or another
    thread in BLAS at the same time, must not change a bit."""
    from threading import Thread

    from threadpoolctl import threadpool_limits

    from prsgazer.engine.ancestry import project

    with open_panel(anc_panel.prefix) as panel:
        with threadpool_limits(limits=1, user_api="blas"):
            one = reference_pca(panel, PcaSettings(genome_build="GRCh38"), exclude=[])
        with threadpool_limits(limits=2, user_api="blas"):
            busy = Thread(target=lambda: [np.ones((600, 600)) @ np.ones((600, 600)) for _ in range(40)])
            busy.start()  # another thread in BLAS meanwhile
            two = reference_pca(panel, PcaSettings(genome_build="GRCh38"), exclude=[])
            busy.join()
    assert one.write(tmp_path / "1.parquet").read_bytes() == two.write(tmp_path / "2.parquet").read_bytes()
    assert np.array_equal(one.loadings, anc_pca.loadings)
    with open_panel(anc_panel.holdout_prefix) as people:
        with threadpool_limits(limits=1, user_api="blas"):
            p1 = project(anc_pca, people).pcs
        with threadpool_limits(limits=2, user_api="blas"):
            p2 = project(anc_pca, people).pcs
    assert p1.equals(p2)


def test_not_a_pca_file(tmp_path: Path) -> None:
    f = tmp_path / "x.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(f)
    with pytest.raises(InputError, match="not an ancestry PCA file"):
        AncestryPca.read(f)


def test_exclusion_list_and_kinship(anc_panel) -> None:
    with open_panel(anc_panel.prefix) as panel:
        ids = panel.samples["sample_id"].to_list()
        settings = PcaSettings(genome_build="GRCh38", n_pcs=4)
        pca = reference_pca(panel, settings, exclude=[*ids[:50], "NOT_A_SAMPLE"])
        assert pca.samples["sample_id"].to_list() == ids[50:]
        assert pca.n_related_excluded == 50 and pca.relatedness == "list"
        assert any("not panel samples" in w for w in pca.warnings)
        king = reference_pca(panel, settings)  # no list: KING-robust
        assert king.relatedness == "king" and king.samples.height == 800 - king.n_related_excluded
        with pytest.raises(InputError, match="unrelated panel samples"):
            reference_pca(panel, PcaSettings(genome_build="GRCh38"), exclude=ids[:780])


def test_build_is_checked(anc_panel) -> None:
    assert PcaSettings(genome_build="hg38").genome_build == "GRCh38"
    with pytest.raises(ValidationError, match="GRCh37 and GRCh38"):
        PcaSettings(genome_build="NCBI36")
    with open_panel(anc_panel.prefix) as panel, pytest.raises(InputError, match="the panel is GRCh38"):
        reference_pca(panel, PcaSettings(genome_build="GRCh37"), exclude=[])
