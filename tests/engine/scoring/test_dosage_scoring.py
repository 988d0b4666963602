"""Scoring imputed dosages against plink2 live: a cohort whose dosages really differ from its hard
calls, written as `GT:DS`, `GT:HDS` and `GT:GP` VCFs and as the .pgen plink2 makes from the DS one,
scored with additive (REF and ALT effect alleles, strand flips), dominant and recessive rows, missing
dosages mean-imputed from the founders' dosages or from reference frequencies, on every scoring path
(sparse kernels, matrix products, per entry). And `hard_calls` gives the hard-call numbers back."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.genotypes import open_genotypes
from prsgazer.engine.scorefile import read_scorefile
from prsgazer.engine.scoring.batch import batch_score
from prsgazer.engine.scoring.match import match_variants
from prsgazer.engine.scoring.run import RunOptions, run_scoring
from prsgazer.engine.scoring.score import ScoreOptions, plan_weights, score_chunks, score_table
from prsgazer.synthetic.files import (
    Cohort,
    SyntheticScore,
    random_cohort,
    random_genotype_probabilities,
    random_score,
    write_dosage_vcf,
    write_pfile,
    write_scorefile,
    write_vcf,
)

#: per sample, |prsgazer − plink2| (plink2 prints 6 significant digits)
TOLERANCE = 1e-4
PATHS = {
    "sparse": ScoreOptions(),
    "matrix": ScoreOptions(sparse_additive=False),
    "entry": ScoreOptions(entry_path_max_samples=10**6),
}


def run_plink2(plink2: str, args: list[str], cwd: Path) -> None:
    proc = subprocess.run([plink2, "--threads", "1", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def plink2_score(plink2: str, load: list[str], scorefile: Path, out: Path, *modifiers: str,
                 freq: Path | None = None) -> pl.DataFrame:  # fmt: skip
    """`plink2 <load> [--read-freq F] --score FILE 1 2 3 header-read cols=+scoresums,+denom,+dosagesum`."""
    args = [*load, *(["--read-freq", str(freq)] if freq else []), "--score", str(scorefile), "1", "2", "3"]
    args += ["header-read", "cols=+scoresums,+denom,+dosagesum", *modifiers, "--out", str(out)]
    run_plink2(plink2, args, out.parent)
    frame = pl.read_csv(out.with_suffix(".sscore"), separator="\t", infer_schema=False)
    return frame.rename(lambda c: c.lstrip("#"))


def plink_scorefile(cohort: Cohort, score: SyntheticScore, path: Path, name: str) -> Path:
    """The truth in plink2's terms: variant ID, effect allele in target orientation, weight."""
    ids = cohort.sites["id"].gather(score.target_row).to_list()
    ref = cohort.sites["ref"].gather(score.target_row).to_list()
    alt = cohort.sites["alt"].gather(score.target_row).to_list()
    a1 = [a if is_alt else r for r, a, is_alt in zip(ref, alt, score.effect_is_alt, strict=True)]
    w = score.rows["effect_weight"].to_list()
    lines = "".join(f"{i}\t{a}\t{x!r}\n" for i, a, x in zip(ids, a1, w, strict=True))
    path.write_text(f"ID\tA1\t{name}\n{lines}")
    return path


def max_diff(ours: pl.DataFrame, ref: pl.DataFrame, name: str) -> float:
    """Largest per-sample |SUM| difference; DENOM and ALLELE_CT equal; AVG and the dosage sum close."""
    assert ours["sample_id"].to_list() == ref["IID"].to_list()
    assert ours["denom"].to_list() == ref["DENOM"].cast(pl.Int64).to_list(), name
    assert ours["allele_ct"].to_list() == ref["ALLELE_CT"].cast(pl.Int64).to_list(), name
    assert (ours["avg"] - ref[f"{name}_AVG"].cast(pl.Float64)).abs().max() <= TOLERANCE, name
    # plink2 prints dosage sums to 3 decimals: half a unit of the third
    dosage_sum = ref["NAMED_ALLELE_DOSAGE_SUM"].cast(pl.Float64)
    assert (ours["named_allele_dosage_sum"] - dosage_sum).abs().max() <= 5e-4 + 1e-9, name
    return float((ours["sum"] - ref[f"{name}_SUM"].cast(pl.Float64)).abs().max())


class Imputed(NamedTuple):
    cohort: Cohort
    vcfs: dict[str, Path]  # DS, HDS, GP
    pgen: Path  # made by plink2 from the DS VCF
    scores: dict[str, SyntheticScore]
    files: list[Path]
    plink_files: dict[str, Path]


@pytest.fixture(scope="module")
def imputed(tmp_path_factory: pytest.TempPathFactory, plink2: str):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("imputed")
    cohort = random_cohort(150, 800, seed=21, missing_rate=0.03, chrom="3")
    gp = random_genotype_probabilities(cohort, seed=22, noise=0.7)
    # 3% of calls without dosage: the GT call is used, or, when it is missing too, the call is imputed
    no_dosage = np.random.default_rng(23).random(cohort.genotypes.shape) < 0.03
    vcfs = {
        f: write_dosage_vcf(cohort, d / f"{f}.vcf.gz", gp, fields=(f,), no_dosage=no_dosage, seed=24)
        for f in ("DS", "HDS", "GP")
    }
    run_plink2(plink2, ["--vcf", str(vcfs["DS"]), "dosage=DS", "--make-pgen", "--out", str(d / "ds")], d)
    scores = {
        "ADD": random_score(cohort, 400, seed=1, flip_rate=0.25),
        "DOM": random_score(cohort, 150, seed=2, flip_rate=0.1, dominant_rate=1.0),
        "REC": random_score(cohort, 150, seed=3, recessive_rate=1.0),
    }
    files = [write_scorefile(s.rows, d / f"{k}.txt", pgs_id=k) for k, s in scores.items()]
    plink_files = {k: plink_scorefile(cohort, s, d / f"{k}.plink.txt", k) for k, s in scores.items()}
    return Imputed(cohort, vcfs, d / "ds", scores, files, plink_files)


MODIFIERS = {"ADD": [], "DOM": ["dominant"], "REC": ["recessive"]}


@pytest.mark.plink2
@pytest.mark.parametrize("form", ["DS", "HDS", "GP", "pgen"])
def test_dosages_score_as_plink2(plink2: str, imputed, tmp_path: Path, form: str) -> None:  # type: ignore[no-untyped-def]
    """VCF DS / HDS / GP and the .pgen plink2 made from the DS VCF: every scoring path equals plink2
    `--score` on the same dosages within 1e-4 per sample (missing dosages mean-imputed)."""
    vcfs, pgen, scores, files = imputed.vcfs, imputed.pgen, imputed.scores, imputed.files
    plink_files = imputed.plink_files
    geno = pgen if form == "pgen" else vcfs[form]
    load = ["--pfile", str(pgen)] if form == "pgen" else ["--vcf", str(geno), f"dosage={form}"]
    refs = {k: plink2_score(plink2, load, plink_files[k], tmp_path / k, *MODIFIERS[k]) for k in scores}
    for path, sopt in PATHS.items():
        run = run_scoring(geno, files, RunOptions(cache_dir=tmp_path, score=sopt))
        assert run.dosage_source == ("pgen dosages" if form == "pgen" else form)
        assert run.table["dosage_source"].unique().to_list() == [run.dosage_source]
        for k in scores:
            assert run.match.summary(k).n_matched == scores[k].rows.height
            diff = max_diff(run.table.filter(pl.col("pgs_id") == k), refs[k], k)
            assert diff <= TOLERANCE, (form, path, k, diff)
        assert int(run.table["n_missing"].sum()) > 0
        assert (run.table["n_missing"] == run.table["n_imputed"]).all()


@pytest.mark.plink2
def test_dosages_really_differ_from_hard_calls_and_hard_calls_mode(plink2: str, imputed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`hard_calls` scores the GT calls of a dosage VCF exactly as the same cohort without dosages
    (the numbers of before), and a dosage .pgen's hard calls as plink2 with its dosages erased."""
    cohort, vcfs, pgen, scores, files, plink_files = imputed
    plain = write_vcf(cohort, tmp_path / "plain.vcf.gz")
    old = run_scoring(plain, files, RunOptions(cache_dir=tmp_path))
    assert old.dosage_source == "hard calls"
    hard = run_scoring(vcfs["DS"], files, RunOptions(cache_dir=tmp_path, score=ScoreOptions(hard_calls=True)))
    assert hard.dosage_source == "hard calls"
    assert any("DS dosages are not used" in w for w in hard.warnings)
    assert hard.table.equals(old.table)
    dos = run_scoring(vcfs["DS"], files, RunOptions(cache_dir=tmp_path))
    gap = (dos.table["sum"] - hard.table["sum"]).abs()
    assert float(gap.median()) > 0.01  # the dosages change most samples' scores
    # the hard-call numbers are plink2's on the hard-call pfile
    pfile = write_pfile(cohort, tmp_path / "hard")
    for k in scores:
        ref = plink2_score(plink2, ["--pfile", str(pfile)], plink_files[k], tmp_path / f"h{k}", *MODIFIERS[k])
        assert max_diff(hard.table.filter(pl.col("pgs_id") == k), ref, k) <= 1e-5
    # a dosage .pgen in hard-calls mode = plink2 on the same file with its dosages erased
    erase = ["--pfile", str(pgen), "--make-pgen", "erase-dosage", "--out", str(tmp_path / "erased")]
    run_plink2(plink2, erase, tmp_path)
    hard_pgen = run_scoring(pgen, files, RunOptions(cache_dir=tmp_path, score=ScoreOptions(hard_calls=True)))
    assert any("pgen dosages of the genotypes are not used" in w for w in hard_pgen.warnings)
    for k in scores:
        ref = plink2_score(plink2, ["--pfile", str(tmp_path / "erased")], plink_files[k], tmp_path / f"e{k}",
                           *MODIFIERS[k])  # fmt: skip
        assert max_diff(hard_pgen.table.filter(pl.col("pgs_id") == k), ref, k) <= 1e-5


@pytest.mark.plink2
def test_dosages_with_reference_frequencies_and_few_samples(plink2: str, imputed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Missing dosages imputed from --read-freq frequencies (plink2's .afreq of the dosages), and a
    handful of samples without imputation (plink2 no-mean-imputation), both within 1e-4."""
    cohort, pgen, scores, files, plink_files = (
        imputed.cohort, imputed.pgen, imputed.scores, imputed.files, imputed.plink_files
    )
    run_plink2(plink2, ["--pfile", str(pgen), "--freq", "--out", str(tmp_path / "f")], tmp_path)
    afreq = tmp_path / "f.afreq"
    run = run_scoring(pgen, files, RunOptions(cache_dir=tmp_path, ref_freq=afreq))
    for k in scores:
        ref = plink2_score(plink2, ["--pfile", str(pgen)], plink_files[k], tmp_path / f"rf{k}", *MODIFIERS[k],
                           freq=afreq)  # fmt: skip
        assert max_diff(run.table.filter(pl.col("pgs_id") == k), ref, k) <= TOLERANCE
    keep = tmp_path / "keep.txt"
    few = cohort.samples[:6]
    keep.write_text("".join(f"{s}\n" for s in few))
    small = Cohort(sites=cohort.sites, samples=few, genotypes=cohort.genotypes[:, :6])
    gp = random_genotype_probabilities(cohort, seed=22, noise=0.7)[:, :6]
    no_dosage = (np.random.default_rng(23).random(cohort.genotypes.shape) < 0.03)[:, :6]
    vcf = write_dosage_vcf(small, tmp_path / "few.vcf", gp, fields=("DS",), no_dosage=no_dosage, seed=24)
    run = run_scoring(vcf, files, RunOptions(cache_dir=tmp_path))
    assert run.imputation.startswith("off")
    for k in scores:
        ref = plink2_score(plink2, ["--vcf", str(vcf), "dosage=DS"], plink_files[k], tmp_path / f"few{k}",
                           *MODIFIERS[k], "no-mean-imputation")  # fmt: skip
        assert max_diff(run.table.filter(pl.col("pgs_id") == k), ref, k) <= TOLERANCE
    assert int(run.table["n_missing"].sum()) > 0 and int(run.table["n_imputed"].sum()) == 0


def test_genotypic_weights_on_dosages_interpolate(tmp_path: Path) -> None:
    """Per-dosage weights on a fractional dosage: the line between the weights of the two integer
    dosages around it (dominant/recessive/additive are the special cases (0, w, w), (0, 0, w),
    (0, w, 2w)), on the per-entry and the matrix-product paths, computed here independently."""
    cohort = random_cohort(60, 40, seed=5)
    gp = random_genotype_probabilities(cohort, seed=6)
    vcf = write_dosage_vcf(cohort, tmp_path / "g.vcf", gp, fields=("DS",))
    rows = random_score(cohort, 30, seed=7).rows
    w = np.random.default_rng(8).normal(0, 1, (rows.height, 3))
    gen = rows.with_columns(
        pl.Series("dosage_0_weight", w[:, 0]), pl.Series("dosage_1_weight", w[:, 1]),
        pl.Series("dosage_2_weight", w[:, 2]),
    ).drop("effect_weight", "is_dominant", "is_recessive")  # fmt: skip
    sf = read_scorefile(write_scorefile(gen, tmp_path / "gen.txt", pgs_id="GEN"))
    src = open_genotypes(vcf)
    match = match_variants(sf.variants, src.variants)
    plan = plan_weights(match.weights, ["GEN"])
    d_alt = src.read_dosages(np.arange(src.variants.height)).astype(np.float64)
    want = np.zeros(cohort.genotypes.shape[1])
    cols = ("vidx", "effect_is_alt", "dosage_0_weight", "dosage_1_weight", "dosage_2_weight")
    assert match.weights.height == rows.height
    for vidx, is_alt, w0, w1, w2 in match.weights.select(cols).iter_rows():
        d = d_alt[vidx] if is_alt else 2 - d_alt[vidx]
        want += np.where(d <= 1, w0 + d * (w1 - w0), w1 + (d - 1) * (w2 - w1))
    for sopt in PATHS.values():
        got = score_table(src, plan, score_chunks(src, plan, options=sopt))["sum"].to_numpy()
        assert np.abs(got - want).max() < 1e-9


@pytest.mark.plink2
def test_batch_scoring_reads_dosages(plink2: str, imputed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Batch scoring over a dosage .pgen (the sparse pass for additive scores, the general path for
    dominant and recessive ones) equals plink2 `--score` on it; `hard_calls` is part of its key."""
    pgen, scores, files, plink_files = imputed.pgen, imputed.scores, imputed.files, imputed.plink_files
    panel = open_genotypes(pgen)
    cids = {"pgen": "p", "pvar": "v", "psam": "s"}
    res = batch_score(panel, files, out_dir=tmp_path / "b", panel_cids=cids, dosage_sum=True)
    for k in scores:
        ref = plink2_score(plink2, ["--pfile", str(pgen)], plink_files[k], tmp_path / k, *MODIFIERS[k])
        assert max_diff(res.scores(k), ref, k) <= TOLERANCE, k
    hard = batch_score(panel, files, out_dir=tmp_path / "b", panel_cids=cids, dosage_sum=True,
                       score_options=ScoreOptions(hard_calls=True))  # fmt: skip
    assert hard.n_cached == 0 and hard.n_ok == len(scores)
    assert not hard.scores("ADD")["sum"].equals(res.scores("ADD")["sum"])


def test_person_with_dosages_and_absent_sites(tmp_path: Path) -> None:
    """A single imputed person (DS) whose VCF lists variant sites only, declared WGS with a
    reference table: present sites score their dosage, absent ones count as hom-ref."""
    cohort = random_cohort(1, 300, seed=9)
    gp = random_genotype_probabilities(cohort, seed=10)
    keep = (cohort.genotypes[:, 0] > 0) | (gp[:, 0, 0] < 0.9)  # variant-only: drop confident hom-ref calls
    person = Cohort(cohort.sites.filter(pl.Series(keep)), cohort.samples, cohort.genotypes[keep])
    vcf = write_dosage_vcf(person, tmp_path / "p.vcf", gp[keep], fields=("DS",))
    reference = write_pfile(cohort, tmp_path / "ref")
    score = random_score(cohort, 120, seed=11)
    sf = write_scorefile(score.rows, tmp_path / "s.txt", pgs_id="P")
    opt = RunOptions(cache_dir=tmp_path, coverage="wgs", reference=Path(f"{reference}.pvar"))
    run = run_scoring(vcf, [sf], opt)
    assert run.dosage_source == "DS" and run.match.summary("P").n_matched == 120
    ds = np.floor((gp[:, 0, 1] + 2 * gp[:, 0, 2]).round(4) * 16384 + 0.5) / 16384
    d_alt = np.where(keep, ds, 0.0)[score.target_row]
    d = np.where(score.effect_is_alt, d_alt, 2 - d_alt)
    want = float((score.rows["effect_weight"].to_numpy() * d).sum())
    assert abs(run.table["sum"][0] - want) < 1e-9
