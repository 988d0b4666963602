"""The target-index cache (`engine.scoring.index_cache`): a person's later runs on the same VCF read the
matcher's index instead of building it; the index read back is the index built, a damaged or unfitting
entry is discarded and built again, and the run records the entry it used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from loguru import logger

from prsgazer.cid import cid_of_file
from prsgazer.engine.genotypes import open_genotypes
from prsgazer.engine.genotypes.source import GenotypeSource
from prsgazer.engine.scoring.index_cache import cached_index, entry_path
from prsgazer.engine.scoring.match import TargetIndex
from prsgazer.engine.scoring.run import RunOptions, run_scoring
from prsgazer.sealed import seal_path


def _same(a: TargetIndex, b: TargetIndex) -> None:
    assert a.table.equals(b.table) and a.height == b.height
    assert a.state()[1] == b.state()[1]
    assert np.array_equal(a.multiallelic, b.multiallelic)
    for col in ("A", "ACGT", "T", "GGA", None):  # codes of scoring alleles, through each vocabulary
        s = pl.Series([col, "AC", "TG", "N"], dtype=pl.String)
        assert np.array_equal(a.alleles(s), b.alleles(s))
    chrom, pos = pl.Series(["1", "2", "X", "22", None]), pl.Series([5, 7, 9, 11, 13])
    assert np.array_equal(a.keys(chrom, pos), b.keys(chrom, pos))


def _first_entry(vcf: Path, cache: Path) -> tuple[GenotypeSource, TargetIndex, TargetIndex, str | None, Path]:
    """The VCF opened with a cache, its index built, and its first index entry: (source, built,
    written index, written CID, entry path)."""
    source = open_genotypes(vcf, cache_dir=cache)
    assert source.cache_cid is not None
    built = TargetIndex(source.variants)
    first, written = cached_index(source.variants, cache, source.cache_cid)
    return source, built, first, written, entry_path(cache, source.cache_cid)


def test_the_index_read_back_is_the_index_built(person_vcf, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    source, built, first, written, entry = _first_entry(person_vcf[0], cache)
    assert source.cache_cid is not None
    assert written == cid_of_file(entry) and seal_path(entry).exists()
    again, read = cached_index(source.variants, cache, source.cache_cid)
    assert read == written
    _same(built, first)
    _same(built, again)
    source.close()


@pytest.mark.parametrize("damage", ["bytes", "other table"])
def test_a_damaged_or_unfitting_entry_is_discarded_and_built_again(
    person_vcf, tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "cache"
    source, built, _, written, entry = _first_entry(person_vcf[0], cache)
    assert source.cache_cid is not None
    target = source.variants
    if damage == "bytes":
        data = bytearray(entry.read_bytes())
        data[len(data) // 2] ^= 0x5A
        entry.write_bytes(bytes(data))
    else:  # sealed, but of another table: the first variants only
        entry.unlink()
        seal_path(entry).unlink()
        small = target.head(10)
        _, _ = cached_index(small, cache, source.cache_cid)
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING", format="{message}")
    try:
        index, cid = cached_index(target, cache, source.cache_cid)
    finally:
        logger.remove(sink)
    assert any("discarded" in w for w in warnings), warnings
    _same(built, index)
    assert cid == written == cid_of_file(entry)  # rebuilt: the same bytes as the first entry
    source.close()


def test_a_run_on_a_vcf_reads_its_index_from_the_cache_and_records_it(synth_panel, person_vcf, tmp_path: Path) -> None:
    _, files = synth_panel
    opt = RunOptions(cache_dir=tmp_path / "cache")
    first = run_scoring(person_vcf[0], files[:2], opt)
    (entry,) = (tmp_path / "cache" / "target_index").glob("*.parquet")
    assert first.derived["target_index"] == cid_of_file(entry)
    mtime = entry.stat().st_mtime_ns
    second = run_scoring(person_vcf[0], files[:2], opt)
    assert entry.stat().st_mtime_ns == mtime  # read, not written again
    assert second.derived["target_index"] == first.derived["target_index"]
    assert second.table.equals(first.table)
    plain = run_scoring(person_vcf[0], files[:2], RunOptions())  # no cache dir: built in the run
    assert "target_index" not in plain.derived
    assert plain.table.drop("dosage_source").equals(first.table.drop("dosage_source"))
