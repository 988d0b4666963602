"""Absent-site policy for a single person's VCF: WGS (declared), gVCF blocks, unknown coverage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prsgazer.engine.genotypes import absent, open_genotypes
from prsgazer.engine.genotypes.absent import Coverage, FastaReference
from prsgazer.engine.scoring.run import RunOptions, run_scoring
from prsgazer.synthetic.files import random_cohort, random_score, write_pfile, write_scorefile, write_vcf


def write_fasta(sites: pl.DataFrame, path: Path, *, width: int = 60, seed: int = 0) -> Path:
    """chr1 whose bases at the cohort's positions are the REF alleles."""
    rng = np.random.default_rng(seed)
    length = int(sites["pos"].max()) + 500
    seq = np.array(list("ACGT"))[rng.integers(0, 4, length)]
    seq[sites["pos"].to_numpy() - 1] = sites["ref"].to_list()
    text = "".join(seq)
    lines = [">chr1 synthetic"] + [text[i : i + width] for i in range(0, length, width)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def person(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("person")
    cohort = random_cohort(1, 500, seed=5)
    full = write_vcf(cohort, d / "full.vcf", contig_lengths={"1": 249250621})
    sparse = write_vcf(cohort, d / "variants.vcf.gz", contig_lengths={"1": 249250621}, skip_homref=True)
    fasta = write_fasta(cohort.sites, d / "ref.fa")
    score = random_score(cohort, 300, seed=3, flip_rate=0.2, no_oa_rate=0.2)
    sf = write_scorefile(score.rows, d / "P.txt", pgs_id="P")
    return d, cohort, full, sparse, fasta, sf


def same_as_whole(a, b) -> None:  # type: ignore[no-untyped-def]
    """Equal scores (sums to rounding: the summation order differs when rows are filled in)."""
    ints = ["denom", "n_matched", "n_missing", "allele_ct"]
    assert a.table.select(ints).equals(b.table.select(ints))
    for col in ("sum", "avg", "named_allele_dosage_sum"):
        np.testing.assert_allclose(a.table[col].to_numpy(), b.table[col].to_numpy(), rtol=1e-12, atol=1e-12)


def test_fasta_reference_bases(person, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, cohort, _, _, fasta, _ = person
    before = sorted(p.name for p in fasta.parent.iterdir())
    ref = FastaReference(fasta, cache_dir=tmp_path / "cache")
    got = ref.bases(cohort.sites["chrom"], cohort.sites["pos"])
    assert got.to_list() == cohort.sites["ref"].to_list()
    assert ref.bases(pl.Series(["1", "7"]), pl.Series([10**9, 5])).to_list() == [None, None]
    # the index is kept in the cache, never written next to the user's FASTA
    assert sorted(p.name for p in fasta.parent.iterdir()) == before
    (cached,) = (tmp_path / "cache" / "fasta").glob("*.fai")
    again = FastaReference(fasta, cache_dir=tmp_path / "cache")
    assert again.index == ref.index and cached.read_text().count("\n") == len(ref.index)
    # without a cache the index is built in memory; a user's own .fai is read as it is
    assert FastaReference(fasta).index == ref.index
    import shutil

    own = shutil.copy(fasta, tmp_path / "own.fa")
    Path(f"{own}.fai").write_text(cached.read_text())
    assert FastaReference(own).index == ref.index


def test_wgs_policy_with_fasta_equals_full_vcf(person, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, cohort, full, sparse, fasta, sf = person
    n_homref_sites = int((cohort.genotypes[:, 0] == 0).sum())
    assert n_homref_sites > 100
    whole = run_scoring(full, [sf], RunOptions(cache_dir=tmp_path))
    assert whole.absent.coverage is Coverage.GENOTYPED
    wgs = run_scoring(sparse, [sf], RunOptions(cache_dir=tmp_path, coverage=Coverage.WGS, reference=fasta))
    assert wgs.absent.absent_means == "hom_ref"
    assert wgs.absent.n_homref_resolved > 50 and wgs.absent.n_homref_unresolved == 0
    assert wgs.match.summary("P").n_matched == whole.match.summary("P").n_matched == 300
    same_as_whole(wgs, whole)
    # the same with a variant table (pvar) as the reference
    prefix = write_pfile(cohort, tmp_path / "panel")
    via_table = run_scoring(sparse, [sf], RunOptions(cache_dir=tmp_path, coverage=Coverage.WGS, reference=prefix))
    same_as_whole(via_table, whole)
    # and with the .pvar alone (any variant table works, as docs/engine.md says)
    via_pvar = run_scoring(
        sparse, [sf], RunOptions(cache_dir=tmp_path, coverage=Coverage.WGS, reference=Path(f"{prefix}.pvar"))
    )
    same_as_whole(via_pvar, whole)


@pytest.mark.plink2
def test_wgs_policy_matches_plink2_on_the_full_vcf(person, plink2: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, cohort, full, sparse, fasta, _ = person
    score = random_score(cohort, 300, seed=4)
    sf = write_scorefile(score.rows, tmp_path / "Q.txt", pgs_id="Q")
    ids = cohort.sites["id"].gather(score.target_row).to_list()
    a1 = [
        a if is_alt else r
        for r, a, is_alt in zip(
            cohort.sites["ref"].gather(score.target_row),
            cohort.sites["alt"].gather(score.target_row),
            score.effect_is_alt,
            strict=True,
        )
    ]
    plink_sf = tmp_path / "q.plink"
    plink_sf.write_text(
        "ID\tA1\tQ\n"
        + "".join(f"{i}\t{a}\t{w!r}\n" for i, a, w in zip(ids, a1, score.rows["effect_weight"], strict=True))
    )
    subprocess.run(
        [
            plink2,
            "--vcf",
            str(full),
            "--score",
            str(plink_sf),
            "1",
            "2",
            "3",
            "header-read",
            "cols=+scoresums,+denom",
            "no-mean-imputation",
            "--out",
            str(tmp_path / "q"),
        ],
        check=True,
        capture_output=True,
    )
    ref = pl.read_csv(tmp_path / "q.sscore", separator="\t", infer_schema=False)
    wgs = run_scoring(sparse, [sf], RunOptions(cache_dir=tmp_path, coverage=Coverage.WGS, reference=fasta))
    assert f"{wgs.table['sum'][0]:.6g}" == ref["Q_SUM"][0]
    assert wgs.table["denom"][0] == int(ref["DENOM"][0]) == 600


def test_unknown_coverage_leaves_absent_sites_unmatched(person, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, _, sparse, _, sf = person
    run = run_scoring(sparse, [sf], RunOptions(cache_dir=tmp_path))
    assert run.absent.coverage is Coverage.UNKNOWN and run.absent.absent_means == "unknown"
    n_present = run.match.summary("P").n_matched
    assert run.absent.n_absent_positions == 300 - n_present
    assert "left unmatched" in run.absent.describe()
    # wgs without a reference: hom-ref decided but not resolvable → reported, unmatched
    run2 = run_scoring(sparse, [sf], RunOptions(cache_dir=tmp_path, coverage=Coverage.WGS))
    assert run2.absent.n_homref_unresolved == 300 - n_present
    assert "give --reference" in run2.absent.describe()


def test_wgs_detected_from_a_large_variant_only_vcf(person, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A large one-sample VCF of variant calls only is a whole genome (its hom-ref fraction, over every
    call); one that lists its hom-ref calls is not."""
    _, cohort, full, sparse, fasta, sf = person
    monkeypatch.setattr(absent, "WGS_MIN_RECORDS", 100)
    run = run_scoring(sparse, [sf], RunOptions(cache_dir=tmp_path, reference=fasta))
    assert run.absent.coverage is Coverage.WGS and run.absent.how.startswith("detected")
    assert run.match.summary("P").n_matched == 300
    listed = run_scoring(full, [sf], RunOptions(cache_dir=tmp_path))
    homref = float((cohort.genotypes[:, 0] == 0).mean())
    assert homref > absent.WGS_MAX_HOMREF_FRACTION and listed.absent.coverage is Coverage.GENOTYPED
    with open_genotypes(full, cache_dir=tmp_path) as src:  # every call, read-only (the source's own matrix)
        calls = src.all_calls()
        assert not calls.flags.writeable and np.array_equal(calls, src.read(np.arange(src.variants.height)))


def write_gvcf(cohort, path: Path, *, low_gq_from: int, uncovered: range) -> Path:  # type: ignore[no-untyped-def]
    """One-sample gVCF: variant records, hom-ref runs as END= blocks (GQ 5 from record `low_gq_from`
    on), no record at all for the sites in `uncovered`."""
    s = cohort.sites
    g = cohort.genotypes[:, 0]
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=249250621>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP",
    ]
    gts = {1: "0/1", 2: "1/1"}
    k = 0
    n = s.height
    while k < n:
        if k in uncovered:
            k += 1
            continue
        pos, ref, alt = s["pos"][k], s["ref"][k], s["alt"][k]
        if g[k] != 0:
            lines.append(f"1\t{pos}\t.\t{ref}\t{alt},<NON_REF>\t50\t.\t.\tGT:GQ\t{gts[int(g[k])]}:60")
            k += 1
            continue
        j = k
        while j + 1 < n and g[j + 1] == 0 and (j + 1) not in uncovered and (j + 1 < low_gq_from) == (k < low_gq_from):
            j += 1
        gq = 5 if k >= low_gq_from else 60
        lines.append(f"1\t{pos}\t.\t{ref}\t<NON_REF>\t.\t.\tEND={s['pos'][j]}\tGT:GQ\t0/0:{gq}")
        k = j + 1
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gvcf_blocks(person, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, cohort, full, _, fasta, sf = person
    gv = write_gvcf(cohort, tmp_path / "p.g.vcf", low_gq_from=400, uncovered=range(100, 150))
    opts = RunOptions(cache_dir=tmp_path, reference=fasta)
    opts.filters.min_gq = 20
    run = run_scoring(gv, [sf], opts)
    rep = run.absent
    assert rep.coverage is Coverage.GVCF and rep.how.startswith("detected")
    scored = set(run_scoring(full, [sf], RunOptions(cache_dir=tmp_path)).match.matched["chr_position"].to_list())
    positions = cohort.sites["pos"].to_list()
    uncovered = {positions[k] for k in range(100, 150)} & scored
    assert rep.n_not_covered == len(uncovered) > 0  # no record and no block: unmatched
    s = run.match.summary("P")
    assert s.n_matched == 300 - len(uncovered)
    low = {positions[k] for k in range(400, 500) if cohort.genotypes[k, 0] == 0} & scored
    assert int(run.table["n_missing"][0]) == len(low) > 0  # low-GQ blocks: missing, not hom-ref
    assert int(run.table["n_imputed"][0]) == 0  # one sample, no reference frequencies
    assert int(run.table["denom"][0]) == 2 * (s.n_matched - len(low))
