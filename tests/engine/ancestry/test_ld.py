"""LD pruning: the blocked pruner against a one-variant-at-a-time implementation of the same rule."""

from __future__ import annotations

import numpy as np
import pytest

from prsgazer.engine.ancestry.ld import LdPrune, LdPruner
from prsgazer.engine.ancestry.qc import standardize
from prsgazer.engine.genotypes import PgenSource


def naive_prune(z: np.ndarray, chrom: np.ndarray, pos: np.ndarray, o: LdPrune) -> np.ndarray:
    """Keep variant j unless r² > o.r2 with a kept variant i < j of its chromosome, within o.window_bp and
    fewer than o.window_variants variants back (r from float64 dot products)."""
    n = z.shape[1]
    keep = np.zeros(len(pos), dtype=bool)
    ordinal = np.zeros(len(pos), dtype=np.int64)
    for j in range(len(pos)):
        ordinal[j] = ordinal[j - 1] + 1 if j and chrom[j] == chrom[j - 1] else 0
        ok = True
        for i in np.flatnonzero(keep[:j]):
            if chrom[i] != chrom[j] or pos[j] - pos[i] > o.window_bp or ordinal[j] - ordinal[i] >= o.window_variants:
                continue
            r = float(z[i].astype(np.float64) @ z[j].astype(np.float64)) / n
            if r * r > o.r2:
                ok = False
                break
        keep[j] = ok
    return keep


@pytest.mark.parametrize(
    ("options", "feed"),
    [
        (LdPrune(r2=0.05, window_variants=1000, window_bp=1_000_000, block=64), 4096),
        (LdPrune(r2=0.2, window_variants=7, window_bp=10_000_000, block=8), 50),  # variant-count windows
        (LdPrune(r2=0.1, window_variants=1000, window_bp=300_000, block=16), 333),  # bp windows, odd feeds
    ],
)
def test_blocked_pruner_equals_one_at_a_time(anc_panel, options: LdPrune, feed: int) -> None:
    src = PgenSource(anc_panel.prefix, "pfile")
    v = src.variants.filter(src.variants["chrom"].is_in(["1", "2"]))[:2500]
    g = src.read(v["vidx"].to_numpy())
    mean = g.mean(axis=1)
    sd = g.std(axis=1)
    sd[sd == 0] = 1.0
    z = standardize(g, mean, sd, np.float32)
    chrom, pos = v["chrom"].to_numpy(), v["pos"].to_numpy()
    pruner = LdPruner(options, z.shape[1])
    got = np.concatenate([pruner.add(z[lo : lo + feed], chrom[lo : lo + feed], pos[lo : lo + feed])
                          for lo in range(0, len(pos), feed)])  # fmt: skip
    want = naive_prune(z, chrom, pos, options)
    assert 0 < got.sum() < len(got)  # something pruned, something kept
    assert (got == want).all()
