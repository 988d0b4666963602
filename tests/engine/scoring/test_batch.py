"""Batch scoring: equal to per-score `run_scoring` and to plink2 (one combined score file, all score
columns at once), on a simulated panel, a cohort with missing calls and the CINECA pfile; resumability;
memory-limit chunking."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.cid import cid_of_file
from prsgazer.engine.genotypes import open_genotypes
from prsgazer.engine.reference.panel import open_panel
from prsgazer.engine.scoring import additive as additive_mod
from prsgazer.engine.scoring import batch as batch_mod
from prsgazer.engine.scoring.batch import batch_score, parse_memory, read_result_meta
from prsgazer.engine.scoring.match import MatchOptions
from prsgazer.engine.scoring.run import RunOptions, run_scoring
from prsgazer.errors import InputError
from prsgazer.sealed import read_seal, seal_path
from prsgazer.synthetic.files import random_cohort, random_score, write_pfile, write_scorefile


def g6(x: float) -> str:
    return f"{x:.6g}"


def same_printed(a, b) -> None:  # type: ignore[no-untyped-def]
    """Equal to plink2's printed precision (%g, 6 digits). Two summation orders of the same terms can
    differ in the last bits; a value sitting on a rounding boundary may then print one unit apart —
    allowed only when the numbers agree to 1e-12 relative, and for at most 1 % of the values."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    sa, sb = [g6(x) for x in a], [g6(x) for x in b]
    differ = [i for i, (x, y) in enumerate(zip(sa, sb, strict=True)) if x != y]
    for i in differ:
        assert abs(a[i] - b[i]) <= 1e-12 * max(abs(b[i]), 1e-300), (i, a[i], b[i])
    assert len(differ) <= max(1, len(a) // 100), differ


def assert_same(batch_frame: pl.DataFrame, ref: pl.DataFrame) -> None:
    """Batch result == run_scoring rows of one score: sums to 1e-9 and to the printed digit, counts exactly."""
    assert batch_frame["sample_id"].to_list() == ref["sample_id"].to_list()
    a, b = batch_frame["sum"].to_numpy(), ref["sum"].to_numpy()
    assert np.abs(a - b).max() <= 1e-9 * max(1.0, np.abs(b).max())
    same_printed(a, b)
    for col in ("denom", "n_matched", "allele_ct", "n_missing", "n_imputed"):
        assert batch_frame[col].to_list() == ref[col].to_list(), col
    same_printed(batch_frame["avg"], ref["avg"])


def combined_plink2_scorefile(run, source, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """One plink2 score file for every score: variant ID, effect allele in target orientation, one
    weight column per score (0 where a score lacks the variant) — as the benchmark writes it."""
    m = run.match.matched.filter(pl.col("score_passed"))
    ids = source.variants.get_column("id")
    m = m.with_columns(ids.gather(m["vidx"]).alias("ID"), pl.col("accession").cast(pl.String))
    # a variant may carry ALT as effect allele in one score and REF in another: plink2 needs one A1
    # per line, so weights are re-expressed on ALT (w·(2 − g) = 2w − w·g; the constant is added back)
    m = m.with_columns(
        pl.when(pl.col("effect_is_alt"))
        .then(pl.col("effect_weight"))
        .otherwise(-pl.col("effect_weight"))
        .alias("w_alt")
    )
    wide = m.pivot(on="accession", index=["ID", "ALT"], values="w_alt", aggregate_function="sum").fill_null(0.0)
    const = m.filter(~pl.col("effect_is_alt")).group_by("accession").agg((2 * pl.col("effect_weight")).sum())
    wide.write_csv(path, separator="\t")
    return path, dict(const.iter_rows())


def plink2_sums(plink2: str, prefix: Path, scorefile: Path, n_scores: int, out: Path) -> pl.DataFrame:
    proc = subprocess.run(
        [plink2, "--threads", "1", "--pfile", str(prefix), "--score", str(scorefile), "1", "2", "header-read",
         "cols=+scoresums", "--score-col-nums", f"3-{2 + n_scores}", "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return pl.read_csv(out.with_suffix(".sscore"), separator="\t", infer_schema=False).rename(lambda c: c.lstrip("#"))


# ------------------------------------------------------------------------------------------------


@pytest.mark.plink2
def test_batch_equals_run_scoring_and_plink2(synth_panel, plink2: str, tmp_path: Path) -> None:
    info, files = synth_panel
    panel = open_panel(info.prefix, cache_dir=tmp_path / "cache")
    res = batch_score(panel, files, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", dosage_sum=True,
                      dense_fraction=0.2, dense_min_scores=1)  # fmt: skip
    assert (res.n_total, res.n_ok, res.n_failed, res.n_cached) == (4, 4, 0, 0)
    run = run_scoring(info.prefix, files, RunOptions(cache_dir=tmp_path / "cache"))
    for o in res.outcomes:
        mine = res.scores(o.accession)
        ref = run.table.filter(pl.col("pgs_id") == o.accession)
        assert_same(mine, ref)
        same_printed(mine["named_allele_dosage_sum"], ref["named_allele_dosage_sum"])
        assert o.summary is not None and o.summary.n_matched == run.match.summary(o.accession).n_matched
    # plink2: all scores at once from one file with one column per score
    sf, const = combined_plink2_scorefile(run, panel, tmp_path / "all.plink.tsv")
    accs = [o.accession for o in res.outcomes]
    header = pl.read_csv(sf, separator="\t", n_rows=1).columns[2:]
    ref = plink2_sums(plink2, info.prefix, sf, len(header), tmp_path / "p2")
    for acc in accs:
        mine = res.scores(acc)
        theirs = ref[f"{acc}_SUM"].cast(pl.Float64).to_numpy() + const.get(acc, 0.0)
        assert np.abs(mine["sum"].to_numpy() - theirs).max() < 5e-6 * max(1.0, np.abs(theirs).max())
    # the dense (BLAS) and the sparse (kernel) paths were both used
    assert res.memory is not None and 0 < res.memory.n_dense < 4


def test_missing_calls_imputation_and_small_cohorts(tmp_path: Path) -> None:
    """Missing calls: mean-imputed from ≥ 50 founders, else 0 with DENOM shrinking — as the engine."""
    for n_samples, tag in ((120, "big"), (30, "small")):
        cohort = random_cohort(n_samples, 800, seed=3, missing_rate=0.05, chrom="3")
        prefix = write_pfile(cohort, tmp_path / f"c_{tag}")
        files = [
            write_scorefile(
                random_score(cohort, n, seed=k, flip_rate=0.2).rows,
                tmp_path / f"{tag}{k}.txt",
                pgs_id=f"{tag.upper()}{k}",
            )
            for k, n in enumerate([20, 300, 700])
        ]
        src = open_genotypes(prefix)
        res = batch_score(src, files, out_dir=tmp_path / f"out_{tag}", panel_cids={"pgen": tag},
                          dense_fraction=0.5, dense_min_scores=1)  # fmt: skip
        run = run_scoring(prefix, files, RunOptions())
        assert res.n_ok == 3
        for o in res.outcomes:
            assert_same(res.scores(o.accession), run.table.filter(pl.col("pgs_id") == o.accession))
        t = res.table()
        assert int(t["n_missing"].sum()) > 0
        if tag == "big":
            assert (t["n_missing"] == t["n_imputed"]).all()
        else:
            assert int(t["n_imputed"].sum()) == 0 and (t["denom"] < 2 * t["n_matched"]).any()


def test_non_additive_scores_take_the_general_path(tmp_path: Path) -> None:
    cohort = random_cohort(80, 400, seed=9, missing_rate=0.02, chrom="5")
    prefix = write_pfile(cohort, tmp_path / "c")
    files = [
        write_scorefile(random_score(cohort, 100, seed=1, dominant_rate=0.5).rows, tmp_path / "dom.txt", pgs_id="DOM"),
        write_scorefile(random_score(cohort, 120, seed=2).rows, tmp_path / "add.txt", pgs_id="ADD"),
        write_scorefile(random_score(cohort, 90, seed=3, recessive_rate=0.5).rows, tmp_path / "rec.txt", pgs_id="REC"),
    ]
    run = run_scoring(prefix, files, RunOptions())
    # the default limit, and a tiny one: the smallest matching groups and 64-variant chunks
    for limit, out in (("2GB", "o"), ("1MB", "o_small")):
        res = batch_score(open_genotypes(prefix), files, out_dir=tmp_path / out, panel_cids={"pgen": "c"},
                          memory_limit=limit)  # fmt: skip
        for o in res.outcomes:
            assert_same(res.scores(o.accession), run.table.filter(pl.col("pgs_id") == o.accession))
        assert "score (general path)" in res.timings
    assert res.memory is not None and res.memory.match_rows == batch_mod._MIN_MATCH_ROWS and res.n_chunks > 1


def test_cineca_as_a_tiny_real_panel(shared_data: Path, tmp_path: Path) -> None:
    base = shared_data / "genomes" / "cineca" / "cineca_synthetic_subset"
    panel = open_panel(base, cache_dir=tmp_path)
    res = batch_score(panel, [shared_data / "scorefiles" / "PGS001229_22.txt"], out_dir=tmp_path / "o")
    got = res.scores("PGS001229")
    expected = pl.read_csv(
        shared_data / "expected" / "cineca_PGS001229_22_expected_plink2_sscore.tsv",
        separator="\t",
        schema_overrides={"PGS001229_SUM": pl.String, "PGS001229_AVG": pl.String},
    )
    j = expected.join(got, left_on="IID", right_on="sample_id")
    assert j.height == 2504
    assert [g6(x) for x in j["sum"]] == j["PGS001229_SUM"].to_list()
    assert [g6(x) for x in j["avg"]] == j["PGS001229_AVG"].to_list()
    assert (j["denom"] == j["DENOM"]).all() and int(j["n_imputed"].sum()) == 42
    assert res.outcome("PGS001229").summary.n_matched == 782  # type: ignore[union-attr]
    assert panel.superpopulations == []  # CINECA's psam has no SuperPop: fine for scoring


def test_resumable_rerun_corrupt_stale_and_changed(synth_panel, tmp_path: Path) -> None:
    info, files = synth_panel
    files = [shutil.copy(f, tmp_path / Path(f).name) for f in files]
    panel = open_panel(info.prefix, cache_dir=tmp_path / "cache")
    out = tmp_path / "out"
    first = batch_score(panel, files, out_dir=out)
    assert first.n_ok == 4 and first.n_cached == 0
    # a file's manifest is sealed with its results as companions; a result has no seal of its own
    sealed = {name: cid for m in out.glob("*.json") for name, cid in (read_seal(m) or {}).items()}
    for o in first.outcomes:
        result = Path(o.result_path)  # type: ignore[arg-type]
        assert not seal_path(result).exists()
        assert sealed[result.name] == o.result_cid == cid_of_file(result)
    again = batch_score(panel, files, out_dir=out)
    assert (again.n_cached, again.n_ok) == (4, 0) and "score" not in again.timings
    for a, b in zip(first.outcomes, again.outcomes, strict=True):
        assert a.key == b.key and a.result_path == b.result_path
    # corrupt one result: truncated bytes → recomputed, the others stay cached
    victim = Path(first.outcome("PGS900002").result_path)  # type: ignore[arg-type]
    victim.write_bytes(victim.read_bytes()[:100])
    third = batch_score(panel, files, out_dir=out)
    assert third.outcome("PGS900002").status == "ok" and third.n_cached == 3
    assert third.scores("PGS900002").equals(first.scores("PGS900002"))
    # stale: another score's (valid) result under this name → key mismatch → recomputed
    shutil.copy(first.outcome("PGS900001").result_path, victim)  # type: ignore[arg-type]
    fourth = batch_score(panel, files, out_dir=out)
    assert fourth.outcome("PGS900002").status == "ok"
    assert read_result_meta(victim)["accession"] == "PGS900002"
    # a changed scoring file (one weight) has a new CID → new key → recomputed
    text = Path(files[2]).read_text().splitlines()
    last = text[-1].split("\t")
    last[5] = "0.5"
    Path(files[2]).write_text("\n".join([*text[:-1], "\t".join(last)]) + "\n")
    fifth = batch_score(panel, files, out_dir=out)
    o = fifth.outcome("PGS900003")
    assert o.status == "ok" and o.key != first.outcome("PGS900003").key and fifth.n_cached == 3
    # other options → other keys
    sixth = batch_score(panel, files, out_dir=out, match_options=MatchOptions(keep_ambiguous=True))
    assert sixth.n_cached == 0


def test_memory_limit_sets_chunks_not_numbers(synth_panel, tmp_path: Path) -> None:
    info, files = synth_panel
    panel = open_panel(info.prefix, cache_dir=tmp_path / "cache")
    big = batch_score(panel, files, out_dir=tmp_path / "a", memory_limit="2GB")
    # a limit no larger than the process's baseline: the smallest chunks
    small = batch_score(panel, files, out_dir=tmp_path / "b", memory_limit=batch_mod._BASELINE)
    assert big.n_chunks == 1 and small.n_chunks > 10
    # accumulators over a third of the limit: the scores are split into several passes, same numbers
    split = batch_score(panel, files, out_dir=tmp_path / "c", memory_limit=3 * 400 * 16 * 2)
    assert split.memory is not None and split.memory.score_groups == 2
    assert small.memory is not None and small.memory.chunk_variants * small.n_chunks >= small.n_union_variants
    for o in big.outcomes:
        a, b = big.scores(o.accession), small.scores(o.accession)
        c = split.scores(o.accession)
        assert np.allclose(a["sum"].to_numpy(), b["sum"].to_numpy(), rtol=1e-12, atol=1e-12)
        assert np.allclose(a["sum"].to_numpy(), c["sum"].to_numpy(), rtol=1e-12, atol=1e-12)
        same_printed(a["sum"], b["sum"])


def test_matching_groups_do_not_change_numbers(synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files gathered into matching groups by their actual rows, a file larger than a group matched in
    slices of its positions, two groups matched at once: the same summaries, and the same numbers to
    the bit, as one group (score indices follow group order, not timing)."""
    info, files = synth_panel
    panel = open_panel(info.prefix, cache_dir=tmp_path / "cache")
    one = batch_score(panel, files, out_dir=tmp_path / "one", cache_dir=tmp_path / "cache")
    groups: list[int] = []
    slices: list[int] = []
    real, real_slice = batch_mod._match_group, batch_mod._match_slice

    def spy(rows, *args):  # type: ignore[no-untyped-def]
        groups.append(rows.height)
        return real(rows, *args)

    def spy_slice(rows, *args):  # type: ignore[no-untyped-def]
        slices.append(rows.height)
        return real_slice(rows, *args)

    monkeypatch.setattr(batch_mod, "_match_group", spy)
    monkeypatch.setattr(batch_mod, "_match_slice", spy_slice)
    monkeypatch.setattr(batch_mod, "_MATCH_ROW_BYTES", 10**12)  # match_rows = the floor
    monkeypatch.setattr(batch_mod, "_MIN_MATCH_ROWS", 600)
    monkeypatch.setattr(batch_mod, "_MATCH_THREADS", 2)  # (one by default) the order must not follow timing
    released: list[int] = []
    monkeypatch.setattr(batch_mod, "release_free_memory", lambda: released.append(len(groups) + len(slices)))
    many = batch_score(panel, files, out_dir=tmp_path / "many", cache_dir=tmp_path / "cache")
    assert many.memory is not None and many.memory.match_rows == 600
    assert groups == [160, 900]  # 10 + 150 rows together; 900 alone (up to twice a group: whole)
    assert len(slices) == 4 and sum(slices) == 2000 and max(slices) <= 700  # 2000 rows: in slices
    assert len(released) == 6 + 4  # free heap pages given back after each group and slice, and each join
    assert [o.summary for o in many.outcomes] == [o.summary for o in one.outcomes]
    assert [o.accession for o in many.outcomes] == [o.accession for o in one.outcomes]
    for o in one.outcomes:
        assert many.scores(o.accession).equals(one.scores(o.accession))


def test_rounds_bound_the_entries_and_do_not_change_numbers(
    synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    """A batch whose entries would not fit the limit is matched and scored in rounds, each round's
    results written before the next is matched: the same summaries, lineage and numbers to the bit as
    one round, progress over all files, and a score id in two files is still an error across rounds."""
    info, files = synth_panel
    cache = tmp_path / "cache"
    panel = open_panel(info.prefix, cache_dir=cache)
    one = batch_score(panel, files, out_dir=tmp_path / "one", cache_dir=cache, cache_scorefiles=True)
    assert one.memory is not None and one.memory.match_passes == 1
    scored: dict[Path, list[int]] = {}  # scores per round, per output dir
    real = batch_mod._score_all_additive

    def spy(b, m):  # type: ignore[no-untyped-def]
        done = scored.setdefault(b.out_dir, [])
        # the earlier rounds' results are on disk before this round is scored
        assert len(list(b.out_dir.glob("*.json"))) == sum(done)
        done.append(len(m.accessions))
        return real(b, m)

    monkeypatch.setattr(batch_mod, "_score_all_additive", spy)
    monkeypatch.setattr(batch_mod, "_MATCH_ROW_BYTES", 10**12)  # groups of the floor's rows
    monkeypatch.setattr(batch_mod, "_MIN_MATCH_ROWS", 600)
    monkeypatch.setattr(batch_mod, "_ENTRY_BYTES", 10**12)  # rounds of the floor's rows
    monkeypatch.setattr(batch_mod, "_MIN_ROUND_ROWS", 500)
    progress: list[tuple[str, int, int]] = []
    rounds = batch_score(panel, files, out_dir=tmp_path / "rounds", cache_dir=cache, cache_scorefiles=True,
                         progress=lambda *a: progress.append(a))  # fmt: skip
    # 10 + 150 rows, then 900, then 2,000 (in slices): three rounds
    assert rounds.memory is not None and rounds.memory.match_passes == 3
    assert scored[tmp_path / "rounds"] == [2, 1, 1]
    assert [p[1] for p in progress if p[0] == "match"] == [2, 3, 4]
    assert [(o.accession, o.summary, o.derived) for o in rounds.outcomes] == [
        (o.accession, o.summary, o.derived) for o in one.outcomes
    ]
    assert all("scorefile_cache" in o.derived for o in rounds.outcomes)
    for o in one.outcomes:
        assert rounds.scores(o.accession).equals(one.scores(o.accession))
    again = batch_score(panel, files, out_dir=tmp_path / "rounds", cache_dir=cache)
    assert again.n_cached == len(files)
    dup = tmp_path / "copy_of_first.txt"
    shutil.copy(files[0], dup)
    with pytest.raises(InputError, match=rf"is in two scoring files \({files[0].name} and copy_of_first.txt\)"):
        batch_score(panel, [files[0], files[2], dup], out_dir=tmp_path / "dup", cache_dir=cache)
    assert scored[tmp_path / "dup"] == [1, 1]  # found in the third round: the first two are kept, complete


def test_files_after_a_sliced_file_wait_for_its_last_slice_when_the_limit_is_tight(
    synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    """Without room to read the next files while a large file's slices are matched, they are read
    once its last slice is matched, not beside it (the reader ahead would otherwise fetch them as
    soon as it handed the last slice out)."""
    import threading
    import time

    info, files = synth_panel
    panel = open_panel(info.prefix, cache_dir=tmp_path / "cache")
    events: list[tuple[str, float]] = []
    lock = threading.Lock()
    real_read, real_slice = batch_mod.read_scorefiles, batch_mod._match_slice

    def read(paths, **kw):  # type: ignore[no-untyped-def]
        with lock:
            events.append((f"read {Path(paths[0]).stem}", time.perf_counter()))
        return real_read(paths, **kw)

    def match_slice(rows, *args):  # type: ignore[no-untyped-def]
        got = real_slice(rows, *args)
        time.sleep(0.3)  # a slow slice: time enough for a read beside it to start
        with lock:
            events.append(("matched slice", time.perf_counter()))
        return got

    monkeypatch.setattr(batch_mod, "read_scorefiles", read)
    monkeypatch.setattr(batch_mod, "_match_slice", match_slice)
    monkeypatch.setattr(batch_mod, "_MATCH_ROW_BYTES", 10**12)  # groups of the floor's rows, no room to read ahead
    monkeypatch.setattr(batch_mod, "_MIN_MATCH_ROWS", 600)
    res = batch_score(panel, [files[3], files[0]], out_dir=tmp_path / "o")  # 2,000 rows (sliced), then 10
    assert res.n_ok == 2
    names = [e[0] for e in events]
    assert names == ["read PGS900004"] + ["matched slice"] * 4 + ["read PGS900001"], names


def test_a_cold_batch_loads_its_kernels_while_hashing(
    synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_loads: list[str]
) -> None:  # fmt: skip
    """A batch into an out dir without results loads numba's code on a helper thread while it hashes
    its files; a rerun (every result stored) loads nothing, a batch adding files to stored results loads
    it once it knows it computes, and a failure to load it is the batch's error."""

    from prsgazer.engine.scoring import kernels

    info, files = synth_panel
    panel = open_panel(info.prefix, cache_dir=tmp_path / "cache")
    loaded_on = kernel_loads
    cold = batch_score(panel, files[:2], out_dir=tmp_path / "o")
    assert len(loaded_on) == 1 and loaded_on[0].startswith("load-kernels"), loaded_on
    assert "load compiled code (while hashing)" in cold.timings
    rerun = batch_score(panel, files[:2], out_dir=tmp_path / "o")
    assert rerun.n_cached == 2 and len(loaded_on) == 1 and "load compiled code" not in rerun.timings
    more = batch_score(panel, files, out_dir=tmp_path / "o")
    assert more.n_cached == 2 and more.n_ok == len(files) - 2
    assert len(loaded_on) == 1 and "load compiled code" in more.timings  # stored results: not speculated

    def failing(**kw: bool) -> None:
        raise RuntimeError("numba is broken here")

    monkeypatch.setattr(kernels, "load", failing)
    with pytest.raises(RuntimeError, match="numba is broken here"):
        batch_score(panel, files[:1], out_dir=tmp_path / "other")


def test_a_batch_hashes_its_panel_beside_its_files(
    synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    """Without `panel_cids`, the panel's file CIDs (a cold cache hashes the .pgen: 0.27 s for batch1m's)
    are computed on the hashing pool beside the scoring files while the kernels load, not before the
    load begins; the results are keyed as in a batch given the same CIDs, and the panel remembers them."""
    import threading

    from prsgazer.engine.reference.panel import Panel

    info, files = synth_panel
    hashed_on: list[str] = []
    real = Panel.cids

    def recording(self: Panel):  # type: ignore[no-untyped-def]
        hashed_on.append(threading.current_thread().name)
        return real(self)

    monkeypatch.setattr(Panel, "cids", recording)
    panel = open_panel(info.prefix, cache_dir=tmp_path / "cache")
    got = batch_score(panel, files[:2], out_dir=tmp_path / "a")
    assert hashed_on and hashed_on[0] != threading.main_thread().name, hashed_on
    cids = real(panel).model_dump()  # remembered: not hashed again
    assert cids == real(open_panel(info.prefix)).model_dump()
    given = batch_score(open_panel(info.prefix), files[:2], out_dir=tmp_path / "b", panel_cids=cids)
    assert [o.key for o in got.outcomes] == [o.key for o in given.outcomes] and got.n_ok == 2


def test_match_room_keeps_groups_useful_under_a_tight_limit() -> None:
    """Under a limit that leaves little beside a 1M-variant panel, groups keep the smallest useful size
    (groups of 1,000 rows took batch1m 157 s under 600 MB) and rounds end where their entries fill
    the room; under the default limit, batch1m's 14.2M rows are one round of the largest groups."""
    panel = 1_000_000
    tight = batch_mod._MatchRoom(600_000_000, panel)
    assert tight.group_rows() >= batch_mod._MIN_MATCH_ROWS
    assert tight.round_rows == batch_mod._MIN_ROUND_ROWS or (
        tight.round_rows * batch_mod._ENTRY_BYTES + batch_mod._MIN_MATCH_ROWS * batch_mod._MATCH_ROW_BYTES
        <= tight.free
    )
    started = [tight.take(200_000) for _ in range(40)]
    assert started[0] is False and 1 < sum(started) < 40
    assert tight.rows <= max(tight.round_rows, 200_000)
    roomy = batch_mod._MatchRoom(2_000_000_000, panel)
    assert roomy.group_rows() == batch_mod._MAX_MATCH_ROWS
    assert not any(roomy.take(200_000) for _ in range(71))  # 14.2M rows
    assert roomy.group_rows() == batch_mod._MAX_MATCH_ROWS


def test_a_batch_reads_parsed_file_entries_and_writes_them_only_when_asked(synth_panel, tmp_path: Path) -> None:
    """By default a batch writes no parsed-file cache entry (its results are its cache); with
    `cache_scorefiles` it writes one per file, which a later batch reads and names in its results'
    lineage. The numbers are the same either way."""
    info, files = synth_panel
    cache = tmp_path / "cache"
    panel = open_panel(info.prefix, cache_dir=cache)
    plain = batch_score(panel, files, out_dir=tmp_path / "plain", cache_dir=cache)
    assert plain.n_ok == len(plain.outcomes) > 0
    assert not list((cache / "scorefiles").glob("*.parquet"))
    assert all("scorefile_cache" not in o.derived for o in plain.outcomes)
    kept = batch_score(panel, files, out_dir=tmp_path / "kept", cache_dir=cache, cache_scorefiles=True)
    entries = {p.stem: cid_of_file(p) for p in (cache / "scorefiles").glob("*.parquet")}
    assert sorted(entries) == sorted(cid_of_file(f) for f in files)
    later = batch_score(panel, files, out_dir=tmp_path / "later", cache_dir=cache)
    assert later.n_cached == 0  # another out dir: computed again, from the entries
    for a, b, c in zip(plain.outcomes, kept.outcomes, later.outcomes, strict=True):
        assert a.accession == b.accession == c.accession
        assert b.derived["scorefile_cache"] == c.derived["scorefile_cache"] == entries[c.scorefile_cid]
        assert plain.scores(a.accession).equals(later.scores(a.accession))
        assert plain.scores(a.accession).equals(kept.scores(a.accession))


def test_entry_order_is_score_then_position() -> None:
    rng = np.random.default_rng(1)
    score = rng.integers(0, 7, 500).astype(np.int32)
    upos = rng.integers(0, 50, 500).astype(np.int32)
    want = np.lexsort((upos, score))
    assert (additive_mod.entry_order(score, upos, 7) == want).all()  # unsorted positions: the lexsort
    by_pos = np.argsort(upos, kind="stable")  # the matcher's order: each score's rows by position
    s2, u2 = score[by_pos], upos[by_pos]
    assert (additive_mod.entry_order(s2, u2, 7) == np.lexsort((u2, s2))).all()


def test_failed_scores_are_reported_with_reason(synth_panel, tmp_path: Path) -> None:
    info, files = synth_panel
    bad = tmp_path / "elsewhere.txt"
    rows = pl.DataFrame({"chr_name": ["1", "1"], "chr_position": [5, 6], "effect_allele": ["A", "C"],
                         "other_allele": ["G", "T"], "effect_weight": [0.1, 0.2]})  # fmt: skip
    write_scorefile(rows, bad, pgs_id="PGS999001")
    panel = open_panel(info.prefix)
    res = batch_score(panel, [files[0], bad], out_dir=tmp_path / "o")
    assert (res.n_total, res.n_ok, res.n_failed) == (2, 1, 1)
    o = res.outcome("PGS999001")
    assert o.status == "failed" and o.reason == "no variant matched" and o.result_path is None


def test_parse_memory() -> None:
    assert parse_memory("2GB") == 2_000_000_000
    assert parse_memory("1.5GiB") == int(1.5 * 2**30)
    assert parse_memory("800M") == 800_000_000
    assert parse_memory("512mib") == 512 * 2**20
    assert parse_memory(1234) == 1234
    with pytest.raises(Exception, match="cannot read memory size"):
        parse_memory("lots")


def test_the_same_score_in_two_files_is_an_error_naming_both(synth_panel, tmp_path: Path) -> None:
    from prsgazer.errors import InputError

    info, files = synth_panel
    dup = tmp_path / "copy_of_first.txt"
    shutil.copy(files[0], dup)
    panel = open_panel(info.prefix)
    try:
        with pytest.raises(InputError, match=rf"is in two scoring files \({files[0].name} and copy_of_first.txt\)"):
            batch_score(panel, [files[0], dup], out_dir=tmp_path / "b")
    finally:
        panel.close()
    with pytest.raises(InputError, match="is in two scoring files"):
        run_scoring(info.holdout_prefix, [files[0], dup], RunOptions())
    assert not list((tmp_path / "b").glob("*.parquet"))  # nothing half-done left as a result


def test_auto_reader_is_decided_for_the_whole_batch(tmp_path: Path) -> None:
    """'auto' picks the compiled reader from the text of every file the batch parses (the files are
    then read a few at a time, each read too small alone), not counting files already in the parsed
    cache; the operations layer passes 'auto'."""
    from prsgazer.cid import cid_of_file
    from prsgazer.engine.scorefile import ReaderOptions, entry_path

    cohort = random_cohort(5, 400, seed=3)
    files = [write_scorefile(random_score(cohort, 300, seed=k).rows, tmp_path / f"S{k}.txt", pgs_id=f"S{k}")
             for k in range(4)]  # fmt: skip
    jobs = [batch_mod._FileJob(path=f, cid=cid_of_file(f), key=str(k)) for k, f in enumerate(files)]
    one = files[0].stat().st_size
    cache = tmp_path / "cache"
    auto = ReaderOptions(mode="auto", compiled_min_bytes=3 * one)
    assert batch_mod._batch_reader(auto, jobs, cache).mode == "compiled"  # 4 files together
    assert batch_mod._batch_reader(auto, jobs[:2], cache).mode == "polars"
    for j in jobs[:2]:  # two files parsed before: two left to parse
        e = entry_path(cache, j.cid)
        assert e is not None
        e.parent.mkdir(parents=True, exist_ok=True)
        e.write_bytes(b"")
    assert batch_mod._batch_reader(auto, jobs, cache).mode == "polars"
    assert batch_mod._batch_reader(auto, jobs, None).mode == "compiled"
    for mode in ("compiled", "polars"):
        assert batch_mod._batch_reader(ReaderOptions(mode=mode), jobs[:1], cache).mode == mode


def test_a_cached_result_is_for_the_same_samples(tmp_path: Path) -> None:
    """A result records its samples (a digest, checked from the file's footer): a caller that gives the
    same panel identity for other samples gets new results, not another panel's."""
    cohort = random_cohort(40, 300, seed=6, chrom="2")
    prefix = write_pfile(cohort, tmp_path / "c")
    files = [write_scorefile(random_score(cohort, 100, seed=1).rows, tmp_path / "S1.txt", pgs_id="S1")]
    out = tmp_path / "out"
    first = batch_score(open_genotypes(prefix), files, out_dir=out, panel_cids={"pgen": "same"})
    again = batch_score(open_genotypes(prefix), files, out_dir=out, panel_cids={"pgen": "same"})
    assert (first.n_ok, again.n_cached) == (1, 1)
    psam = Path(f"{prefix}.psam")
    lines = psam.read_text().splitlines()
    psam.write_text("\n".join([lines[0], *(f"X{line}" for line in lines[1:])]) + "\n")
    other = batch_score(open_genotypes(prefix), files, out_dir=out, panel_cids={"pgen": "same"})
    assert (other.n_ok, other.n_cached) == (1, 0)
    assert other.scores("S1").get_column("sample_id").str.starts_with("X").all()


def test_small_pages_turns_numpy_hugepages_off_unless_the_user_chose(
    synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`batch_score` and `run_scoring` ask numpy for ordinary pages (`engine.common.small_pages`);
    NUMPY_MADVISE_HUGEPAGE, when the user set it, decides instead."""
    from numpy._core import multiarray

    from prsgazer.engine.common import small_pages

    switch = multiarray._set_madvise_hugepage  # returns the previous setting
    before = switch(True)
    try:
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
        small_pages()
        assert switch(True) is True  # the user's choice is kept
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
        small_pages()
        assert switch(True) is False  # turned off
        info, files = synth_panel
        run_scoring(info.prefix, files[:1], RunOptions(cache_dir=tmp_path / "cache"))
        assert switch(True) is False  # a scoring run turned them off again
    finally:
        switch(before)


def test_release_free_memory_gives_freed_heap_pages_back() -> None:
    """Arrays of a few MB freed between ones still kept stay resident until `release_free_memory`
    (glibc's malloc_trim) gives their pages back; the kept arrays are intact. A fresh interpreter: the
    heap is the process's."""
    code = """
import numpy as np
from prsgazer.engine.common import release_free_memory
def rss():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) >> 10
big = np.ones(16 << 17)  # 16 MB freed: glibc's mmap threshold rises to it (up to 32 MB)
del big
temps, kept = [], []
for _ in range(300):  # 300 MB of 1 MB arrays, now from the heap, each followed by one that is kept
    temps.append(np.ones(1 << 17))
    kept.append(np.full(1 << 14, 2.0))  # 128 kB: behind the freed ones, they pin the heap
del temps
before = rss()
release_free_memory()
after = rss()
assert sum(k.sum() for k in kept) == 300 * 2.0 * (1 << 14)
print(before, after)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    assert before - after > 200, (before, after)  # MiB


def test_a_file_matched_in_slices_is_decided_as_a_whole(
    synth_panel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file matched slice by slice: its outcome is decided on the counts of all its slices (here
    its last slice alone matches nothing: the rows moved to a chromosome the panel lacks), and a score
    with dominant rows still goes through the general path with every slice's rows. Summaries and
    numbers are those of the file matched whole."""
    info, files = synth_panel
    panel = open_panel(info.prefix, cache_dir=tmp_path / "cache")
    text = files[3].read_text().splitlines(keepends=True)
    head = "".join(line for line in text if line.startswith("#"))
    body = pl.read_csv(files[3], separator="\t", comment_prefix="#", infer_schema=False)
    n = body.height
    elsewhere = body.with_columns(  # the last 30 %: on chromosome 9 (absent from the panel)
        pl.when(pl.int_range(n) >= int(0.7 * n)).then(pl.lit("9")).otherwise(pl.col("hm_chr")).alias("hm_chr")
    )
    dominant = body.with_columns(
        pl.when(pl.int_range(n) % 7 == 0).then(pl.lit("True")).otherwise(pl.lit("False")).alias("is_dominant")
    )
    made = []
    for name, frame in (("PGS910001", elsewhere), ("PGS910002", dominant)):
        f = tmp_path / f"{name}.txt"
        f.write_text(head.replace("PGS900004", name) + frame.write_csv(separator="\t"))
        made.append(f)
    opts = MatchOptions(min_overlap=0.6)
    whole = batch_score(panel, made, out_dir=tmp_path / "whole", match_options=opts)
    sliced_calls: list[int] = []
    real = batch_mod._match_slice

    def spy(rows, *args):  # type: ignore[no-untyped-def]
        sliced_calls.append(rows.height)
        return real(rows, *args)

    monkeypatch.setattr(batch_mod, "_match_slice", spy)
    monkeypatch.setattr(batch_mod, "_MATCH_ROW_BYTES", 10**12)  # match_rows = the floor
    monkeypatch.setattr(batch_mod, "_MIN_MATCH_ROWS", 600)  # each file in 4 slices
    sliced = batch_score(panel, made, out_dir=tmp_path / "sliced", match_options=opts)
    assert len(sliced_calls) == 8 and sum(sliced_calls) == 2 * n
    a, b = whole.outcome("PGS910001"), sliced.outcome("PGS910001")
    assert a.summary is not None and a.summary.unmatched_by == {"no_candidate": n - int(0.7 * n)}
    assert a.status == b.status == "ok" and a.summary == b.summary  # 70 % overlap: passes only as a whole
    assert whole.outcome("PGS910002").summary == sliced.outcome("PGS910002").summary
    assert "score (general path)" in sliced.timings  # the dominant rows' score
    for acc in ("PGS910001", "PGS910002"):
        assert whole.scores(acc).equals(sliced.scores(acc))
    ref = run_scoring(info.prefix, [made[1]], RunOptions(match=opts))
    np.testing.assert_allclose(
        sliced.scores("PGS910002")["sum"].to_numpy(), ref.table["sum"].to_numpy(), rtol=1e-12, atol=1e-12
    )
