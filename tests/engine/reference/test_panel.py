"""Panels: opening (superpopulations, parquet variant cache, .pvar.zst, CIDs) and the verified download
of a reference pack from a local HTTP server on 127.0.0.1 serving a small pack in the PGS Catalog layout
(Range resume after a cut, checksum mismatch refused, a truncated zstd tar refused, nothing left behind)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zstandard

from prsgazer.engine.reference import panel as panel_mod
from prsgazer.engine.reference.panel import open_panel
from prsgazer.errors import InputError


def test_open_panel_tables_cache_and_cids(synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info, _ = synth_panel
    p = open_panel(f"{info.prefix}.pgen", cache_dir=tmp_path)
    assert p.superpopulations == ["AFR", "AMR", "EAS", "EUR", "SAS"]
    assert p.sample_table.columns == ["sample_id", "superpopulation", "population", "founder"]
    assert sum(p.superpopulation_counts.values()) == p.n_samples == 400
    assert p.build.build == "GRCh38" and p.variants.height == 3000
    cids = p.cids()
    cached = list((tmp_path / "panels").glob("*.sites.parquet"))
    assert [c.name for c in cached] == [f"{cids.pvar}.sites.parquet"]
    # a second open reads the parquet, not the pvar
    monkeypatch.setattr(panel_mod, "read_pvar", lambda *_: (_ for _ in ()).throw(AssertionError("pvar re-read")))
    again = open_panel(info.prefix, cache_dir=tmp_path)
    assert again.variants.equals(p.variants) and again.build.build == "GRCh38" and again.cids() == cids
    assert (again.read([0, 5]) == p.read([0, 5])).all()


def test_read_into_writes_the_given_buffer(synth_panel) -> None:  # type: ignore[no-untyped-def]
    info, _ = synth_panel
    p = open_panel(info.prefix)
    # a range (read_range), a sorted list (read_list), and repeats (read, then copied)
    for vidx in (np.arange(100, 164), np.array([3, 7, 8, 2000]), np.array([9, 4, 4])):
        buf = np.full((len(vidx) + 5, p.n_samples), 99, dtype=np.int8)
        got = p.read_into(vidx, buf[: len(vidx)])
        assert np.shares_memory(got, buf) and (got == p.read(vidx)).all()
        assert (buf[len(vidx) :] == 99).all()
    with pytest.raises(ValueError, match="C-contiguous int8"):
        p.read_into(np.arange(3), np.empty((2, p.n_samples), dtype=np.int8))


def test_pvar_zst_and_missing_pieces(synth_panel, tmp_path: Path) -> None:
    info, _ = synth_panel
    for ext in (".pgen", ".psam"):
        shutil.copy(f"{info.prefix}{ext}", tmp_path / f"z{ext}")
    (tmp_path / "z.pvar.zst").write_bytes(zstandard.ZstdCompressor().compress(Path(f"{info.prefix}.pvar").read_bytes()))
    p = open_panel(tmp_path / "z")
    assert p.variants.height == 3000 and p.pvar_path.name == "z.pvar.zst"
    (tmp_path / "z.psam").unlink()
    with pytest.raises(InputError, match=r"z\.psam does not exist"):
        open_panel(tmp_path / "z")


def test_cineca_has_no_superpopulations(shared_data: Path) -> None:
    p = open_panel(shared_data / "genomes" / "cineca" / "cineca_synthetic_subset")
    assert p.superpopulations == []
    with pytest.raises(InputError, match="no superpopulation column"):
        p.require_superpopulations()


# ------------------------------------------------------------------------------------------------
# a local file server
