"""Relatedness: the exclusion list format, KING-robust kinship (plink2 --make-king-table oracle), greedy removal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.ancestry.kinship import greedy_unrelated, king_robust, read_exclusion_list
from prsgazer.engine.common import MISSING
from prsgazer.engine.genotypes import PgenSource
from prsgazer.errors import InputError


def test_reads_the_shared_king_cutoff_list(shared_data: Path) -> None:
    ids = read_exclusion_list(shared_data / "ancestry" / "ref.king.cutoff.id")
    assert len(ids) == 627 and ids[:2] == ["HG00405", "HG00408"]
    psam = pl.read_csv(shared_data / "ancestry" / "ref.psam", separator="\t", infer_schema=False)
    pcs = pl.read_csv(shared_data / "ancestry" / "ref.pcs", separator="\t", infer_schema=False)
    # the reference PCs are exactly the panel minus the related samples
    assert set(pcs["IID"].to_list()) == set(psam["#IID"].to_list()) - set(ids)


def test_exclusion_list_formats_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "a.id"
    f.write_text("#FID\tIID\nF1\tS1\nF2\tS2\n")
    assert read_exclusion_list(f) == ["S1", "S2"]
    f.write_text("S3\nS4\n")
    assert read_exclusion_list(f) == ["S3", "S4"]
    f.write_text("#FID\tSAMPLE\nF1\tS1\n")
    with pytest.raises(InputError, match="IID") as err:
        read_exclusion_list(f)
    assert err.value.line == 1
    f.write_text("#FID\tIID\nF1\tS1\nF2\n")
    with pytest.raises(InputError) as err:
        read_exclusion_list(f)
    assert err.value.line == 3 and err.value.field == "IID"


def _king_table(plink2: str, prefix: Path, extract: Path, keep: Path, out: Path) -> pl.DataFrame:
    subprocess.run(
        [plink2, "--pfile", str(prefix), "--extract", str(extract), "--keep", str(keep), "--make-king-table",
         "--out", str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return pl.read_csv(f"{out}.kin0", separator="\t")


def test_king_robust_matches_plink2(anc_panel, plink2: str, tmp_path: Path) -> None:
    """KING-robust kinship of 150 samples on 4,000 variants equals plink2's KINSHIP column (printed to 6
    digits), in one block or two."""
    src = PgenSource(anc_panel.prefix, "pfile")
    vidx = np.arange(0, 20_000, 5)
    cols = np.arange(0, 800, 800 // 150)[:150]
    ids = src.samples["sample_id"].to_numpy()[cols]
    (tmp_path / "ext.txt").write_text("\n".join(src.variants["id"].to_numpy()[vidx]) + "\n")
    (tmp_path / "keep.txt").write_text("\n".join(ids) + "\n")
    table = _king_table(plink2, anc_panel.prefix, tmp_path / "ext.txt", tmp_path / "keep.txt", tmp_path / "k")
    g = src.read(vidx)[:, cols]
    where = {s: i for i, s in enumerate(ids)}
    i = np.asarray([where[s] for s in table["#IID1"].to_list()])
    j = np.asarray([where[s] for s in table["IID2"].to_list()])
    expected = table["KINSHIP"].to_numpy()
    for blocks in ([g], [g[:1500], g[1500:]]):
        phi = king_robust(blocks)
        np.testing.assert_allclose(phi[i, j], expected, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(phi, phi.T)


def test_king_robust_with_missing_calls_by_direct_count() -> None:
    rng = np.random.default_rng(7)
    g = rng.binomial(2, rng.uniform(0.1, 0.5, size=(600, 1)), size=(600, 12)).astype(np.int8)
    g[rng.random(g.shape) < 0.05] = MISSING
    phi = king_robust([g[:250], g[250:]])
    for a in range(12):
        for b in range(12):
            if a == b:
                continue
            both = (g[:, a] != MISSING) & (g[:, b] != MISSING)
            x, y = g[both, a], g[both, b]
            het_a, het_b = (x == 1).sum(), (y == 1).sum()
            hethet = ((x == 1) & (y == 1)).sum()
            ibs0 = (((x == 0) & (y == 2)) | ((x == 2) & (y == 0))).sum()
            want = 0.5 - (4 * ibs0 + het_a + het_b - 2 * hethet) / (4 * min(het_a, het_b))
            assert phi[a, b] == pytest.approx(want, abs=1e-12)


def test_king_detects_duplicates_and_parent_child(anc_panel) -> None:
    src = PgenSource(anc_panel.prefix, "pfile")
    g = src.read(np.arange(0, 20_000, 2))[:, :40].copy()
    g[:, 39] = g[:, 0]  # a duplicate
    # a child of samples 1 and 2: one allele from each (drawn per variant)
    rng = np.random.default_rng(1)
    from_1 = (rng.random(len(g)) < g[:, 1] / 2).astype(np.int8)
    from_2 = (rng.random(len(g)) < g[:, 2] / 2).astype(np.int8)
    g[:, 38] = from_1 + from_2
    phi = king_robust([g])
    assert phi[0, 39] == pytest.approx(0.5, abs=1e-12)
    assert 0.18 < phi[1, 38] < 0.32 and 0.18 < phi[2, 38] < 0.32
    drop = greedy_unrelated(phi, 0.0884)
    assert {39, 38} <= set(drop.tolist()) or {0, 38} <= set(drop.tolist())
    rest = np.setdiff1d(np.arange(40), drop)
    sub = phi[np.ix_(rest, rest)]
    np.fill_diagonal(sub, 0)
    assert np.nanmax(sub) <= 0.0884


def test_greedy_removes_the_sample_with_most_relatives_first() -> None:
    phi = np.zeros((5, 5))
    for a, b in [(0, 1), (0, 2), (0, 3)]:  # 0 is related to 1, 2, 3; 4 to nobody
        phi[a, b] = phi[b, a] = 0.25
    assert greedy_unrelated(phi).tolist() == [0]
    phi[1, 2] = phi[2, 1] = 0.25
    assert greedy_unrelated(phi).tolist() == [0, 2]  # then 1–2 remains: the later one goes
