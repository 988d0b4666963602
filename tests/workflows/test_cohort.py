"""`cohort_scores` over a cohort split into files (one per chromosome): one `score` task per file, then
`combine_scores` adds the partial scores — equal to the engine scoring the files as one
(`run_scoring([...])`, engine.genotypes.MultiSource) within summation order, the overlap threshold
decided on the totals; samples that differ and a variant in two files are input errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer import runner
from prsgazer.errors import InputError

pytestmark = pytest.mark.anyio

RTOL = 1e-12


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Split:
    files: list[Path]  # chr1.vcf.gz, chr2 (pfile prefix), chr3.vcf.gz
    scorefiles: list[Path]
    parts: list[str]  # stored CIDs: a VCF, a plink2 genotypes asset, a VCF
    dir: Path


@pytest.fixture
def split(cohort_files) -> Split:  # type: ignore[no-untyped-def]
    from prsgazer.storage import default_store

    from .conftest import store_cohort

    parts = store_cohort(default_store(), cohort_files)
    return Split(files=cohort_files.files, scorefiles=cohort_files.scorefiles, parts=parts, dir=cohort_files.dir)


def _engine(split: Split):  # type: ignore[no-untyped-def]
    from prsgazer.engine.scoring import run_scoring
    from prsgazer.ops.params import ScoreParams, Tuning, run_options

    return run_scoring(split.files, split.scorefiles, run_options(ScoreParams(), Tuning.from_settings()))


async def test_a_split_cohort_fans_out_and_adds_up_to_the_engine_on_all_files(split: Split) -> None:
    from prsgazer.storage import default_store

    store = default_store()
    outcome = await runner.run("cohort_scores", {"pgs_ids": ["S1", "S2"], "genotypes_cids": split.parts})
    out = outcome.outputs
    assert len(out["genotypes_cids"]) == 3 and out["genotypes_cid"] == ""
    assert (out["n_total"], out["n_ok"], out["n_failed"]) == (2, 1, 1)
    want = _engine(split)
    assert want.n_samples == 80 and want.imputation.startswith("mean")  # ≥ 50 samples: target frequencies
    # three `score` tasks (one per file) fed one `combine_scores`
    by_id = {r["pgs_id"]: r for r in out["results"]}
    for pgs in ("S1", "S2"):
        r = by_id[pgs]
        assert len(r["part_cids"]) == 3
        parts = [store.get(c) for c in r["part_cids"]]
        assert {p.genotypes_cid for p in parts} == set(out["genotypes_cids"])
        assert all(p.params["min_overlap"] == 0.0 and p.status == "ok" for p in parts)
        summ = want.match.summary(pgs)
        assert (r["n_variants"], r["n_matched"], r["status"]) == (
            summ.n_variants, summ.n_matched, "ok" if summ.passed else "failed"
        )  # fmt: skip
        assert r["overlap"] == summ.overlap and (r.get("reason") or None) == summ.reason
        assert r["summary"]["by_match_type"] == summ.by_match_type
        assert r["summary"]["excluded_by"] == summ.excluded_by and r["summary"]["unmatched_by"] == summ.unmatched_by
        got = pl.read_csv(store.fetch(r["cid"]).path, separator="\t", null_values="NA",
                          schema_overrides={"sample_id": pl.String})  # fmt: skip
        exp = want.table.filter(pl.col("pgs_id") == pgs)
        assert got["sample_id"].to_list() == exp["sample_id"].to_list()
        for col in ("denom", "n_matched", "n_missing", "n_imputed", "allele_ct", "n_variants", "status"):
            assert got[col].to_list() == exp[col].to_list(), col
        for col in ("sum", "avg", "named_allele_dosage_sum"):
            a, b = got[col].to_numpy(), exp[col].to_numpy()
            if pgs == "S2":  # failed on the totals: no values, as the engine reports a failed score
                assert np.isnan(a.astype(float)).all() and np.isnan(b.astype(float)).all()
                continue
            assert np.allclose(a, b, rtol=RTOL, atol=0), (col, np.max(np.abs(a - b) / np.abs(b)))
    s1 = pl.read_csv(store.fetch(by_id["S1"]["cid"]).path, separator="\t")
    assert s1["n_missing"].sum() > 0 and s1["n_imputed"].sum() > 0  # missing calls were mean-imputed
    # the failing score: every part passed on its own (min_overlap 0), the whole is below the minimum
    assert "below the minimum 0.75" in by_id["S2"]["reason"]

    # the rerun is served from the store (or Flyte's cache), all of it
    again = await runner.run("cohort_scores", {"pgs_ids": ["S1", "S2"], "genotypes_cids": split.parts})
    assert again.outputs["n_cached"] == 2
    assert [r["cid"] for r in again.outputs["results"]] == [r["cid"] for r in out["results"]]


async def test_files_of_other_samples_or_sharing_a_variant_are_input_errors(split: Split, tmp_path: Path) -> None:
    from prsgazer.storage import default_store
    from prsgazer.synthetic.files import Cohort, write_vcf

    store = default_store()
    from .conftest import cohort_parts

    chroms, _ = cohort_parts()
    c1 = chroms[0]
    renamed = Cohort(sites=c1.sites, samples=[*c1.samples[:4], "X", *c1.samples[5:]], genotypes=c1.genotypes)
    other = store.put(write_vcf(renamed, tmp_path / "other.vcf.gz"), "vcf").cid
    with pytest.raises(InputError, match=r"same samples: sample 5 is 'X' in bafk\w+ but 'S\d+' in"):
        await runner.run("cohort_scores", {"pgs_ids": ["S1"], "genotypes_cids": [other, *split.parts[1:]]})
    # part of chr1 again, in a file of its own beside the split: its variants are in two files
    some = Cohort(sites=c1.sites.head(100), samples=c1.samples, genotypes=c1.genotypes[:100])
    twice = store.put(write_vcf(some, tmp_path / "chr1_again.vcf.gz"), "vcf").cid
    with pytest.raises(InputError, match="a variant is in two genotype files"):
        await runner.run("cohort_scores", {"pgs_ids": ["S1"], "genotypes_cids": [*split.parts, twice]})
