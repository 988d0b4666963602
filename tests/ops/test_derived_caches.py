"""Derived caches are verified (issue 14, item 1): nothing wrong is ever served from a cache.

The reproductions: a parsed scoring-file cache entry whose bytes changed (here: rewritten as valid
parquet with other weights) changed the CINECA sums with exit 0; a genotype cache entry likewise; a
truncated genotype cache was reported as bad user input (exit 2); a batch result whose bytes changed
became a stored ReferenceScores. Every derived entry now carries the CID of its bytes in a sidecar
seal, checked on read: a mismatch is discarded (with a warning) and rebuilt from its source, and
results record the CIDs of the derived entries they were computed from.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from prsgazer.cid import cid_of_file
from prsgazer.cli import main

CINECA = "genomes/cineca/cineca_synthetic_subset.vcf.gz"
HEIGHT = "scorefiles/PGS001229_22.txt"


def _rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Rewrite a parquet entry in place as valid parquet, keeping its key-value metadata, with `change`
    applied to its table: bytes that read back cleanly but are not the bytes that were written."""
    meta = {k: v for k, v in (pl.read_parquet_metadata(path) or {}).items() if k.startswith("prsgazer.")}
    assert meta, "the entry carries its metadata"
    changed = change(pl.read_parquet(path))
    path.chmod(0o644)
    changed.write_parquet(path, metadata=meta)
    assert pl.read_parquet_metadata(path).get(next(iter(meta))) == meta[next(iter(meta))]


def _score(shared_data: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, pl.DataFrame | None, str]:
    code = main(["score", str(shared_data / CINECA), "-s", str(shared_data / HEIGHT), "--out", str(out)])
    err = capsys.readouterr().err
    return code, (pl.read_csv(out, separator="\t", null_values="NA") if code == 0 else None), err


def _cache() -> Path:
    from prsgazer.config import get_settings

    return get_settings().cache_dir


def test_a_changed_parsed_scoring_file_entry_is_rebuilt_not_served(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, clean, _ = _score(shared_data, tmp_path / "clean.tsv", capsys)
    assert code == 0 and clean is not None
    (entry,) = (_cache() / "scorefiles").glob("*.parquet")
    _rewrite(entry, lambda f: f.with_columns(pl.col("effect_weight") * 2))
    code, again, err = _score(shared_data, tmp_path / "again.tsv", capsys)
    assert code == 0 and again is not None
    assert again["sum"].to_list() == clean["sum"].to_list()  # 1,231 of 2,504 sums changed before
    assert "does not match its seal" in err  # with a warning
    assert cid_of_file(entry) == (entry.with_name(entry.name + ".cid").read_text().split()[0])  # rebuilt, sealed


@pytest.mark.parametrize("damage", ["rewritten", "truncated"])
def test_a_damaged_genotype_cache_is_rebuilt_from_the_vcf(
    damage: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, clean, _ = _score(shared_data, tmp_path / "clean.tsv", capsys)
    assert code == 0 and clean is not None
    (entry,) = (_cache() / "genotypes").glob("*.parquet")
    if damage == "rewritten":
        _rewrite(entry, lambda f: f.with_columns(pl.col("gt").arr.reverse()))  # samples' genotypes swapped
    else:
        data = entry.read_bytes()
        entry.chmod(0o644)
        entry.write_bytes(data[: len(data) // 2])
    code, again, err = _score(shared_data, tmp_path / "again.tsv", capsys)
    assert code == 0, err  # a damaged cache is the cache's fault, never bad input (exit 2)
    assert again is not None and again["sum"].to_list() == clean["sum"].to_list()
    assert cid_of_file(entry) == entry.with_name(entry.name + ".cid").read_text().split()[0]


def test_a_changed_batch_result_is_recomputed_and_never_stored(synth_panel, tmp_path: Path) -> None:
    from prsgazer.ops.distributions import distributions_for_files
    from prsgazer.ops.params import ScoreParams, Tuning

    info, files = synth_panel
    tuning = Tuning.from_settings()
    clean = distributions_for_files(info.prefix, files[:2], ScoreParams(), tuning, out_dir=tmp_path / "a")
    results = sorted((_cache() / "reference" / "batch").glob("*.parquet"))
    assert len(results) == 2
    for r in results:
        _rewrite(r, lambda f: f.with_columns(pl.col("sum") + 1.0))
    again = distributions_for_files(info.prefix, files[:2], ScoreParams(), tuning, out_dir=tmp_path / "b")
    assert again.batch.n_cached == 0 and again.batch.n_ok == 2  # detected: computed again
    assert again.batch.table().equals(clean.batch.table())
    for a, b in zip(clean.scores, again.scores, strict=True):
        assert a.path is not None and b.path is not None
        assert a.path.read_bytes() == b.path.read_bytes()


def test_results_record_the_derived_entries_they_were_computed_from(synth_panel, person_vcf, tmp_path: Path) -> None:
    from prsgazer.ops.distributions import reference_scores_stored
    from prsgazer.ops.genotypes import ingest_genotypes
    from prsgazer.ops.params import ScoreParams, Tuning
    from prsgazer.ops.score import score_stored
    from prsgazer.ops.scorefiles import ingest_scorefile
    from prsgazer.storage import default_store
    from prsgazer.storage.plink import put_pfile

    info, files = synth_panel
    store = default_store()
    cache = Tuning.from_settings().cache_dir
    assert cache is not None
    sfs = [ingest_scorefile(store, f) for f in files[:2]]
    genotypes = ingest_genotypes(store, person_vcf[0], ScoreParams(), build="GRCh38", coverage="wgs")
    results = score_stored(store, genotypes, sfs, ScoreParams(min_overlap=0.1))
    for r in results:
        derived = store.get(r.cid).metrics["derived_inputs"]
        entry = cache / "scorefiles" / f"{r.scoring_file_cid}.parquet"
        assert derived["scorefile_cache"] == cid_of_file(entry)
    panel = put_pfile(store, info.prefix, "reference_panel", panel="synth", genome_build="GRCh38")
    scores = reference_scores_stored(store, panel, sfs, ScoreParams())  # type: ignore[arg-type]
    (sites,) = (cache / "panels").glob("*.sites.parquet")
    for s in scores:
        derived = store.get(s.cid).metrics["derived_inputs"]
        assert derived["scorefile_cache"] == cid_of_file(cache / "scorefiles" / f"{s.scoring_file_cid}.parquet")
        assert derived["panel_sites"] == cid_of_file(sites)


def test_a_run_on_a_vcf_records_its_genotype_table(shared_data: Path) -> None:
    from prsgazer.ops.params import ScoreParams, Tuning
    from prsgazer.ops.score import score_files

    tuning = Tuning.from_settings()
    run, _ = score_files(shared_data / CINECA, [shared_data / HEIGHT], ScoreParams(), tuning)
    (entry,) = (_cache() / "genotypes").glob("*.parquet")
    assert run.derived["genotypes_table"] == cid_of_file(entry)
    assert run.scorefiles[0].cache_cid == cid_of_file(next((_cache() / "scorefiles").glob("*.parquet")))
