"""Scoring: the CINECA ground truth, plink2 as a live oracle on generated cohorts, and the formulas
plink2 has no counterpart for (per-dosage weights, imputation of dominant/recessive rows)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.genotypes import MISSING, open_genotypes
from prsgazer.engine.scorefile import read_scorefile
from prsgazer.engine.scoring.match import match_variants
from prsgazer.engine.scoring.run import RunOptions, run_scoring
from prsgazer.engine.scoring.score import ScoreOptions, plan_weights, score_chunks, score_table
from prsgazer.synthetic.files import Cohort, random_cohort, random_score, write_pfile, write_scorefile, write_vcf


def g6(x: float) -> str:
    """plink2's number format (%g, 6 significant digits)."""
    return f"{x:.6g}"


# ------------------------------------------------------------------------------------------------
# ground truth: CINECA × PGS001229_22 against pgsc_calc's plink2 output


@pytest.mark.parametrize("form", ["pfile", "bfile", "vcf"])
def test_cineca_ground_truth(shared_data: Path, tmp_path: Path, form: str) -> None:
    base = shared_data / "genomes" / "cineca" / "cineca_synthetic_subset"
    geno = {"pfile": base, "bfile": base.with_suffix(".bed"), "vcf": base.with_suffix(".vcf.gz")}[form]
    run = run_scoring(geno, [shared_data / "scorefiles" / "PGS001229_22.txt"], RunOptions(cache_dir=tmp_path))
    s = run.match.summary("PGS001229")
    assert (s.n_matched, s.excluded_by, s.unmatched_by) == (782, {"is_ambiguous": 47}, {"no_candidate": 6})
    assert s.by_match_type == {"altref": 566, "refalt": 216}
    expected = pl.read_csv(
        shared_data / "expected" / "cineca_PGS001229_22_expected_plink2_sscore.tsv",
        separator="\t",
        schema_overrides={"PGS001229_SUM": pl.String, "PGS001229_AVG": pl.String},
    )
    got = run.table.with_columns(pl.col("sample_id").str.split("_").list.first())  # VCF ids are FID_IID
    j = expected.join(got, left_on="IID", right_on="sample_id", how="inner")
    assert j.height == 2504
    assert (j["denom"] == j["DENOM"]).all() and (j["denom"] == 1564).all()
    assert (j["allele_ct"] == j["ALLELE_CT"]).all()
    assert (j["named_allele_dosage_sum"] == j["NAMED_ALLELE_DOSAGE_SUM"]).all()
    assert (j["sum"] - j["PGS001229_SUM"].cast(pl.Float64)).abs().max() <= 5e-6
    assert (j["avg"] - j["PGS001229_AVG"].cast(pl.Float64)).abs().max() <= 5e-6
    # to the last printed digit
    assert [g6(x) for x in j["sum"]] == j["PGS001229_SUM"].to_list()
    assert [g6(x) for x in j["avg"]] == j["PGS001229_AVG"].to_list()
    assert int(j["n_missing"].sum()) == 42 and int(j["n_imputed"].sum()) == 42
    assert (j["status"] == "ok").all() and (j["n_variants"] == 835).all()


# ------------------------------------------------------------------------------------------------
# plink2 as a live oracle


def run_plink2(plink2: str, args: list[str], cwd: Path) -> None:
    proc = subprocess.run([plink2, "--threads", "1", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def plink2_score(plink2: str, prefix: Path, scorefile: Path, out: Path, *extra: str, cols: str = "") -> pl.DataFrame:
    """`plink2 --pfile PREFIX [--read-freq F] --score FILE 1 2 3 header-read cols=+scoresums… [modifiers]`."""
    pre = [a for a in extra if a.startswith("--read-freq=")]
    mods = [a for a in extra if not a.startswith("--read-freq=")]
    freq = ["--read-freq", pre[0].split("=", 1)[1]] if pre else []
    args = ["--pfile", str(prefix), *freq, "--score", str(scorefile), "1", "2", "3", "header-read"]
    run_plink2(plink2, [*args, "cols=+scoresums" + cols, *mods, "--out", str(out)], out.parent)
    return read_sscore(out.with_suffix(".sscore"))


def read_sscore(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, separator="\t", infer_schema=False).rename(lambda c: c.lstrip("#"))


def plink_scorefile(cohort, score, path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    """The truth in plink2's terms: target variant ID, effect allele in target orientation, weight."""
    ids = cohort.sites["id"].gather(score.target_row).to_list()
    ref = cohort.sites["ref"].gather(score.target_row).to_list()
    alt = cohort.sites["alt"].gather(score.target_row).to_list()
    a1 = [a if is_alt else r for r, a, is_alt in zip(ref, alt, score.effect_is_alt, strict=True)]
    w = score.rows["effect_weight"].to_list()
    path.write_text(
        "ID\tA1\t" + name + "\n" + "".join(f"{i}\t{a}\t{x!r}\n" for i, a, x in zip(ids, a1, w, strict=True))
    )
    return path


@pytest.fixture(scope="module")
def cohort_case(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("cohort")
    cohort = random_cohort(120, 600, seed=7, missing_rate=0.03, chrom="2")
    prefix = write_pfile(cohort, d / "c")
    vcf = write_vcf(cohort, d / "c.vcf.gz", contig_lengths={"2": 243199373})
    scores = {
        "ADD": random_score(cohort, 400, seed=1, flip_rate=0.25),
        "DOM": random_score(cohort, 150, seed=2, flip_rate=0.1, dominant_rate=1.0),
        "REC": random_score(cohort, 150, seed=3, recessive_rate=1.0),
        "NOOA": random_score(cohort, 200, seed=4, no_oa_rate=1.0),
    }
    files = [write_scorefile(s.rows, d / f"{k}.txt", pgs_id=k) for k, s in scores.items()]
    return d, cohort, prefix, vcf, scores, files


@pytest.mark.plink2
def test_plink2_oracle_cohort(plink2: str, cohort_case, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d, cohort, prefix, vcf, scores, files = cohort_case
    run_p = run_scoring(prefix, files, RunOptions(cache_dir=tmp_path))
    run_v = run_scoring(vcf, files, RunOptions(cache_dir=tmp_path))
    assert run_p.table.equals(run_v.table)
    for name, score in scores.items():
        s = run_p.match.summary(name)
        assert s.n_matched == score.rows.height, name  # every generated row matches, flips included
        modifier = {"DOM": ["dominant"], "REC": ["recessive"]}.get(name, [])
        sf = plink_scorefile(cohort, score, d / f"{name}.plink.txt", name)
        ref = plink2_score(plink2, prefix, sf, tmp_path / name, *modifier, cols=",+denom,+dosagesum")
        ours = run_p.table.filter(pl.col("pgs_id") == name)
        assert ours["sample_id"].to_list() == ref["IID"].to_list()
        assert [g6(x) for x in ours["sum"]] == ref[f"{name}_SUM"].to_list(), name
        assert [g6(x) for x in ours["avg"]] == ref[f"{name}_AVG"].to_list(), name
        assert ours["denom"].to_list() == ref["DENOM"].cast(pl.Int64).to_list()
        assert ours["allele_ct"].to_list() == ref["ALLELE_CT"].cast(pl.Int64).to_list()
        assert [g6(x) for x in ours["named_allele_dosage_sum"]] == ref["NAMED_ALLELE_DOSAGE_SUM"].to_list()
    assert int(run_p.table["n_missing"].sum()) > 0
    assert (run_p.table["n_missing"] == run_p.table["n_imputed"]).all()


@pytest.mark.plink2
def test_plink2_oracle_mixed_effect_types(plink2: str, tmp_path: Path) -> None:
    """Additive, dominant and recessive rows in one score = plink2's three runs summed (as pgsc_calc)."""
    cohort = random_cohort(80, 300, seed=21, missing_rate=0.02)
    prefix = write_pfile(cohort, tmp_path / "m")
    score = random_score(cohort, 240, seed=5, flip_rate=0.2, dominant_rate=0.3, recessive_rate=0.3)
    f = write_scorefile(score.rows, tmp_path / "MIX.txt", pgs_id="MIX")
    run = run_scoring(prefix, [f], RunOptions(cache_dir=tmp_path))
    total = np.zeros(80)
    for kind, mask in (
        ("additive", ~(score.rows["is_dominant"] | score.rows["is_recessive"]).to_numpy()),
        ("dominant", score.rows["is_dominant"].to_numpy()),
        ("recessive", score.rows["is_recessive"].to_numpy()),
    ):
        idx = np.flatnonzero(mask)
        part = type(score)(
            rows=score.rows[idx], target_row=score.target_row[idx], effect_is_alt=score.effect_is_alt[idx]
        )
        sf = plink_scorefile(cohort, part, tmp_path / f"{kind}.txt", "W")
        extra = [] if kind == "additive" else [kind]
        part_ref = plink2_score(plink2, prefix, sf, tmp_path / kind, *extra)
        total += part_ref["W_SUM"].cast(pl.Float64).to_numpy()
    ours = run.table["sum"].to_numpy()
    # each plink2 part is printed with 6 significant digits: allow three roundings
    assert np.abs(ours - total).max() <= 3 * 5e-6 * max(1.0, np.abs(total).max())


@pytest.mark.plink2
def test_plink2_oracle_few_samples_and_reference_frequencies(plink2: str, tmp_path: Path) -> None:
    """< 50 samples: no imputation (plink2 no-mean-imputation); with --read-freq: imputed from it."""
    cohort = random_cohort(30, 200, seed=9, missing_rate=0.05)
    prefix = write_pfile(cohort, tmp_path / "few")
    score = random_score(cohort, 150, seed=6, flip_rate=0.2)
    f = write_scorefile(score.rows, tmp_path / "FEW.txt", pgs_id="FEW")
    sf = plink_scorefile(cohort, score, tmp_path / "few.plink.txt", "FEW")
    run = run_scoring(prefix, [f], RunOptions(cache_dir=tmp_path))
    assert "off" in run.imputation
    ref = plink2_score(plink2, prefix, sf, tmp_path / "nmi", "no-mean-imputation", cols=",+denom")
    assert [g6(x) for x in run.table["sum"]] == ref["FEW_SUM"].to_list()
    assert [g6(x) for x in run.table["avg"]] == ref["FEW_AVG"].to_list()
    assert run.table["denom"].to_list() == ref["DENOM"].cast(pl.Int64).to_list()
    assert (run.table["n_imputed"] == 0).all() and int(run.table["n_missing"].sum()) > 0
    # reference frequencies (.afreq), matched by ID and alleles
    rng = np.random.default_rng(0)
    afreq = tmp_path / "ref.afreq"
    s = cohort.sites
    freqs = rng.uniform(0.05, 0.95, s.height).round(4)
    afreq.write_text(
        "#CHROM\tID\tREF\tALT\tALT_FREQS\tOBS_CT\n"
        + "".join(
            f"{c}\t{i}\t{r}\t{a}\t{x}\t1000\n"
            for c, i, r, a, x in zip(s["chrom"], s["id"], s["ref"], s["alt"], freqs, strict=True)
        )
    )
    run2 = run_scoring(prefix, [f], RunOptions(cache_dir=tmp_path, ref_freq=afreq))
    ref2 = plink2_score(plink2, prefix, sf, tmp_path / "rf", f"--read-freq={afreq}", cols=",+denom")
    assert [g6(x) for x in run2.table["sum"]] == ref2["FEW_SUM"].to_list()
    assert run2.table["denom"].to_list() == ref2["DENOM"].cast(pl.Int64).to_list()
    assert (run2.table["n_imputed"] == run2.table["n_missing"]).all()


@pytest.mark.plink2
def test_plink2_oracle_founders_only_frequencies(plink2: str, tmp_path: Path) -> None:
    cohort = random_cohort(70, 150, seed=13, missing_rate=0.05)
    pat = ["0"] * 70
    mat = ["0"] * 70
    for k in range(10, 20):
        pat[k], mat[k] = "S00000", "S00001"
    prefix = write_pfile(cohort, tmp_path / "fam", psam_extra={"PAT": pat, "MAT": mat})
    score = random_score(cohort, 100, seed=8)
    f = write_scorefile(score.rows, tmp_path / "FAM.txt", pgs_id="FAM")
    sf = plink_scorefile(cohort, score, tmp_path / "fam.plink.txt", "FAM")
    run = run_scoring(prefix, [f], RunOptions(cache_dir=tmp_path))
    ref = plink2_score(plink2, prefix, sf, tmp_path / "fam")
    assert [g6(x) for x in run.table["sum"]] == ref["FAM_SUM"].to_list()
    assert "60 founders" in run.imputation


# ------------------------------------------------------------------------------------------------
# formulas


def _plan_for(tmp_path: Path, geno: np.ndarray, rows: str, n_founders_ok: bool = True):  # type: ignore[no-untyped-def]
    cohort = random_cohort(geno.shape[1], geno.shape[0], seed=0)
    cohort.genotypes = geno.astype(np.int8)
    prefix = write_pfile(cohort, tmp_path / "g")
    src = open_genotypes(prefix)
    p = tmp_path / "s.txt"
    p.write_text(
        "#pgs_id=T\n#genome_build=GRCh37\n"
        + rows.format(*[f"{r}\t{a}" for r, a in cohort.sites.select("ref", "alt").rows()])
    )
    sf = read_scorefile(p)
    res = match_variants(sf.variants, src.variants)
    plan = plan_weights(res.matched, ["T"])
    return src, plan


def test_genotypic_weights_and_hwe_imputation(tmp_path: Path) -> None:
    geno = np.array([[0, 1, 2, MISSING] * 15])  # 60 samples, ALT frequency 0.5
    rows = (
        "chr_name\tchr_position\tother_allele\teffect_allele\tdosage_0_weight\tdosage_1_weight\tdosage_2_weight\n"
        "1\t10000\t{0}\t0.1\t0.5\t2.0\n"
    )
    src, plan = _plan_for(tmp_path, geno, rows)
    tab = score_table(src, plan, score_chunks(src, plan))
    # effect allele = ALT: dosage 0, 1, 2 → 0.1, 0.5, 2.0; missing → 0.25·0.1 + 0.5·0.5 + 0.25·2.0
    assert tab["sum"].to_list()[:4] == pytest.approx([0.1, 0.5, 2.0, 0.025 + 0.25 + 0.5])
    assert tab["denom"].to_list()[:4] == [2, 2, 2, 2]


def test_genotypic_rows_with_either_effect_allele_on_both_paths(tmp_path: Path) -> None:
    """Per-dosage weights read the effect dosage (ALT count for an ALT effect allele, 2 − it for a REF
    one) the same way on the per-entry path (a few samples) and the matrix products (a cohort)."""
    geno = np.array([[0, 1, 2, MISSING] * 15, [2, 1, 0, MISSING] * 15])  # ALT frequency 0.5 at both
    cohort = random_cohort(60, 2, seed=0)
    cohort.genotypes = geno.astype(np.int8)
    src = open_genotypes(write_pfile(cohort, tmp_path / "g"))
    (c1, p1, r1, a1), (c2, p2, r2, a2) = cohort.sites.select("chrom", "pos", "ref", "alt").rows()
    f = tmp_path / "gen.txt"
    f.write_text(
        "#pgs_id=G\n#genome_build=GRCh37\n"
        "chr_name\tchr_position\tother_allele\teffect_allele\tdosage_0_weight\tdosage_1_weight\tdosage_2_weight\n"
        f"{c1}\t{p1}\t{r1}\t{a1}\t0.1\t0.5\t2.0\n"  # effect allele ALT
        f"{c2}\t{p2}\t{a2}\t{r2}\t1.0\t3.0\t5.0\n"  # effect allele REF: dosage 2 − ALT count
    )
    plan = plan_weights(match_variants(read_scorefile(f).variants, src.variants).matched, ["G"])
    entry = score_chunks(src, plan, options=ScoreOptions(entry_path_max_samples=100))
    dense = score_chunks(src, plan, options=ScoreOptions(entry_path_max_samples=0))
    # missing: HWE expectation at p = 0.5 → 0.25·0.1 + 0.5·0.5 + 0.25·2 and 0.25·1 + 0.5·3 + 0.25·5
    assert entry.sum[:4, 0] == pytest.approx([1.1, 3.5, 7.0, 0.775 + 3.0])
    np.testing.assert_allclose(entry.sum, dense.sum, rtol=1e-12)
    np.testing.assert_allclose(entry.dosage_sum, dense.dosage_sum, rtol=1e-12)
    assert np.array_equal(entry.n_imputed, dense.n_imputed) and entry.n_imputed.sum() == 30


def test_dominant_recessive_missing_imputed_as_plink2(tmp_path: Path) -> None:
    geno = np.array([[0, 1, 2, MISSING] * 15, [0, 1, 2, MISSING] * 15])
    rows = (
        "chr_name\tchr_position\tother_allele\teffect_allele\teffect_weight\tis_dominant\tis_recessive\n"
        "1\t10000\t{0}\t1.0\tTrue\tFalse\n1\t10097\t{1}\t10.0\tFalse\tTrue\n"
    )
    src, plan = _plan_for(tmp_path, geno, rows)
    tab = score_table(src, plan, score_chunks(src, plan))
    # p(ALT) = 0.5: dominant min(d,1), recessive max(d-1,0); missing → w·p (plink2), not 2pw
    assert tab["sum"].to_list()[:4] == pytest.approx([0.0, 1.0, 11.0, 0.5 + 5.0])


@pytest.mark.parametrize(("n_entries", "span"), [(1_000, 5_000_000), (50_000, 20_000)])
def test_plan_indexes_its_target_rows_by_sorting_or_a_bitmap(n_entries: int, span: int) -> None:
    """A plan's target rows (sorted, distinct) and each entry's index among them: found by sorting when
    the entries are few beside the target (one score against a 5M-variant genome), by a bitmap over the
    target rows when they are many; either way every entry points back at its own target row."""
    rng = np.random.default_rng(4)
    vidx = rng.integers(0, span, n_entries)
    vidx[: n_entries // 10] = vidx[-(n_entries // 10) :]  # rows shared by several scores
    matched = pl.DataFrame(
        {
            "accession": pl.Series(rng.choice(["A", "B"], n_entries)),
            "row_nr": np.arange(n_entries),
            "vidx": vidx.astype(np.uint32),
            "effect_is_alt": rng.random(n_entries) < 0.5,
            "effect_type": ["additive"] * n_entries,
            "effect_weight": rng.normal(size=n_entries),
        }
    ).with_columns(pl.lit(None, pl.Float64).alias(f"dosage_{k}_weight") for k in range(3))
    plan = plan_weights(matched, ["A", "B"])
    assert np.array_equal(plan.vidx, np.unique(vidx)) and plan.vidx.dtype == np.uint32
    assert np.array_equal(plan.vidx[plan.local], vidx)


@pytest.mark.parametrize("missing_rate", [0.05, 0.4])
def test_entry_and_dense_paths_agree(tmp_path: Path, missing_rate: float) -> None:
    """The per-entry path (a few samples) and the matrix products give the same sums and counts. The
    per-entry path values a sample's missing calls alone when they are few (5 %: a person's 3M-entry
    run spent 0.07 s valuing every entry), every entry once for all samples when they are many (40 %)."""
    cohort = random_cohort(6, 400, seed=3, missing_rate=missing_rate)
    prefix = write_pfile(cohort, tmp_path / "e")
    sc = random_score(cohort, 300, seed=2, flip_rate=0.2, dominant_rate=0.2, recessive_rate=0.2)
    f = write_scorefile(sc.rows, tmp_path / "E.txt", pgs_id="E")
    src = open_genotypes(prefix)
    res = match_variants(read_scorefile(f).variants, src.variants)
    plan = plan_weights(res.matched, ["E"])
    ref = np.array([0.3] * src.variants.height)
    ref[::7] = np.nan  # no frequency: those missing calls count as 0 and are not imputed
    a = score_chunks(src, plan, options=ScoreOptions(entry_path_max_samples=100), ref_alt_freq=ref)
    b = score_chunks(src, plan, options=ScoreOptions(entry_path_max_samples=0, max_block_cells=1024), ref_alt_freq=ref)
    # the per-entry path in one chunk and in many
    c = score_chunks(src, plan, options=ScoreOptions(entry_path_max_samples=100, max_block_cells=60), ref_alt_freq=ref)
    for x in (a, c):
        np.testing.assert_allclose(x.sum, b.sum, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(x.dosage_sum, b.dosage_sum, rtol=1e-12, atol=1e-12)
        assert np.array_equal(x.n_missing, b.n_missing) and np.array_equal(x.n_imputed, b.n_imputed)
    assert a.n_missing.sum() > a.n_imputed.sum() > 0


def test_sparse_additive_and_matrix_product_paths_agree(tmp_path: Path) -> None:
    """A cohort's additive rows (sparse kernels) = the dense matrix products, missing calls imputed from
    reference frequencies where known (NaN elsewhere) and the founders' frequencies otherwise; non-additive
    rows of the same plan still go through the products."""
    cohort = random_cohort(80, 500, seed=21, missing_rate=0.04)
    prefix = write_pfile(cohort, tmp_path / "s")
    sc = random_score(cohort, 400, seed=5, flip_rate=0.3, dominant_rate=0.1, recessive_rate=0.1)
    other = random_score(cohort, 250, seed=6, flip_rate=0.5)
    files = [
        write_scorefile(sc.rows, tmp_path / "S.txt", pgs_id="S"),
        write_scorefile(other.rows, tmp_path / "T.txt", pgs_id="T"),
    ]
    src = open_genotypes(prefix)
    rows = pl.concat([read_scorefile(f).variants for f in files])
    plan = plan_weights(match_variants(rows, src.variants).matched, ["S", "T"])
    assert (plan.kind == 0).any() and (plan.kind != 0).any()
    ref = np.random.default_rng(1).uniform(0.05, 0.95, src.variants.height)
    ref[::3] = np.nan
    for freq in (None, ref):
        a = score_chunks(src, plan, options=ScoreOptions(max_block_cells=4096), ref_alt_freq=freq)
        b = score_chunks(src, plan, options=ScoreOptions(sparse_additive=False), ref_alt_freq=freq)
        np.testing.assert_allclose(a.sum, b.sum, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a.dosage_sum, b.dosage_sum, rtol=1e-12, atol=1e-12)
        assert np.array_equal(a.n_missing, b.n_missing) and np.array_equal(a.n_imputed, b.n_imputed)
        assert a.n_missing.sum() > 0 and a.n_imputed.sum() > 0


def test_a_cohort_loads_its_kernels_beside_the_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_loads: list[str]
) -> None:  # fmt: skip
    """A cohort's compiled kernels load on their own thread (numba's ~0.5 s start overlaps reading and
    matching instead of delaying the match); a person's run loads none; a failure to load them is the
    run's error."""

    from prsgazer.engine.scoring import kernels

    cohort = random_cohort(40, 300, seed=8)
    prefix = write_pfile(cohort, tmp_path / "c")
    sf = write_scorefile(random_score(cohort, 200, seed=9).rows, tmp_path / "S.txt", pgs_id="S")
    loaded_on = kernel_loads
    want = run_scoring(prefix, [sf], RunOptions(score=ScoreOptions(sparse_additive=False)))
    assert loaded_on == []  # the matrix-product path needs no kernels
    got = run_scoring(prefix, [sf], RunOptions())
    assert len(loaded_on) == 1 and loaded_on[0].startswith("load-kernels"), loaded_on
    np.testing.assert_allclose(got.table["sum"].to_numpy(), want.table["sum"].to_numpy(), rtol=1e-12, atol=1e-12)
    assert "load kernels (while matching)" in got.timings

    person = Cohort(cohort.sites, cohort.samples[:1], cohort.genotypes[:, :1].copy())
    one = write_vcf(person, tmp_path / "one.vcf")
    run_scoring(one, [sf], RunOptions())
    assert len(loaded_on) == 1  # one sample: per-entry sums, no kernels

    def failing(**kw: bool) -> None:
        raise RuntimeError("numba is broken here")

    monkeypatch.setattr(kernels, "load", failing)
    with pytest.raises(RuntimeError, match="numba is broken here"):
        run_scoring(prefix, [sf], RunOptions())
