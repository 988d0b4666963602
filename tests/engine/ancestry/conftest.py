"""Ancestry fixtures: a simulated panel with held-out people and its reference PCA."""

from __future__ import annotations

import polars as pl
import pytest


@pytest.fixture(scope="session")
def anc_panel(tmp_path_factory: pytest.TempPathFactory):
    """800 panel samples + 200 held-out people × 20,000 SNPs (5 superpopulations, GRCh38)."""
    from prsgazer.synthetic.simulate import synthesize_panel

    d = tmp_path_factory.mktemp("anc_panel")
    return synthesize_panel(d / "panel", 800, 20_000, seed=11, genome_build="GRCh38", n_holdout=200)


@pytest.fixture(scope="session")
def anc_pca(anc_panel):
    """The panel's reference PCA (simulated samples have no pedigree relatives: empty exclusion list)."""
    from prsgazer.engine.ancestry import PcaSettings, reference_pca
    from prsgazer.engine.reference.panel import open_panel

    with open_panel(anc_panel.prefix) as panel:
        return reference_pca(panel, PcaSettings(genome_build="GRCh38"), exclude=[])


@pytest.fixture(scope="session")
def holdout_labels(anc_panel) -> list[str]:
    return pl.read_csv(f"{anc_panel.holdout_prefix}.psam", separator="\t")["SuperPop"].to_list()
