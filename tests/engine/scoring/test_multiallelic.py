"""Multi-allelic sites scored with `keep_multiallelic`: effect-allele counts for REF and for each ALT,
for records written on one line (`ALT=G,C`) and already split into biallelic lines, from hard calls
and from dosages, on every scoring path and in batch scoring, against an independent numpy
computation (copies of the effect allele itself; mean imputation with that allele's frequency)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pgenlib
import polars as pl
import pytest

from prsgazer.engine.scoring.batch import batch_score
from prsgazer.engine.scoring.match import MatchOptions
from prsgazer.engine.scoring.run import RunOptions, run_scoring
from prsgazer.engine.scoring.score import ScoreOptions
from prsgazer.synthetic.files import write_scorefile

N_MULTI, N_BI, N = 40, 20, 90
PATHS = {
    "sparse": ScoreOptions(),
    "matrix": ScoreOptions(sparse_additive=False),
    "entry": ScoreOptions(entry_path_max_samples=10**6),
}
KINDS = ("additive", "dominant", "recessive")


class Sites(NamedTuple):
    ref: list[str]
    alts: list[list[str]]  # one or two ALTs per site
    pos: np.ndarray
    a1: np.ndarray  # (sites, samples) allele index of each chromosome, -1 missing
    a2: np.ndarray
    ds: np.ndarray  # (sites, samples, 2) ALT dosages as written, NaN = '.'


def make_sites(seed: int = 31) -> Sites:
    rng = np.random.default_rng(seed)
    n_sites = N_MULTI + N_BI
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    ref, alts = [], []
    for s in range(n_sites):
        r = str(rng.choice(list("ACGT")))
        # ALTs that are not REF's complement: no scoring row is strand-ambiguous
        others = [str(b) for b in rng.permutation([b for b in "ACGT" if b not in (r, comp[r])])]
        ref.append(r)
        alts.append(others if s < N_MULTI else others[:1])
    n_alleles = np.array([len(a) + 1 for a in alts])
    freq = [rng.dirichlet(np.ones(k) * 2) for k in n_alleles]
    a1 = np.array([rng.choice(len(f), N, p=f) for f in freq])
    a2 = np.array([rng.choice(len(f), N, p=f) for f in freq])
    miss = rng.random((n_sites, N)) < 0.06
    a1[miss] = -1
    a2[miss] = -1
    # dosages: two noisy haplotype allele-probability vectors around the calls (a missing call: flat)
    ds = np.zeros((n_sites, N, 2))
    for s, k in enumerate(n_alleles):
        for a in (a1, a2):
            e = rng.uniform(0, 0.6, N)
            onehot = np.zeros((N, k))
            onehot[a[s] >= 0, a[s][a[s] >= 0]] = 1
            e[a[s] < 0] = 1
            h = (1 - e)[:, None] * onehot + e[:, None] * rng.dirichlet(np.ones(k), N)
            ds[s, :, : k - 1] += h[:, 1:]
        ds[s, :, k - 1 :] = np.nan
    ds = np.round(ds, 4)
    no_dosage = rng.random((n_sites, N)) < 0.05  # '.': the GT call is used
    ds[no_dosage] = np.nan
    return Sites(ref, alts, 1000 + np.arange(n_sites) * 50, a1, a2, ds)


def gt_text(a1: np.ndarray, a2: np.ndarray) -> list[str]:
    return [f"{x}/{y}" if x >= 0 else "./." for x, y in zip(a1, a2, strict=True)]


def ds_text(values: np.ndarray) -> str:
    return "." if np.isnan(values).any() else ",".join(f"{v:.4f}" for v in values)


HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=5,length=180915260>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=DS,Number=A,Type=Float,Description="ALT dosages">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
)


def write_vcfs(s: Sites, d: Path, samples: list[int]) -> tuple[Path, Path]:
    """The sites on one line per record, and split into biallelic lines as `bcftools norm -m-`
    writes them (the other ALT's copies become REF in GT, each line keeps its ALT's dosage)."""
    names = "\t".join(f"S{i:03d}" for i in samples)
    one, split = [HEADER + names], [HEADER + names]
    for k in range(len(s.ref)):
        a1, a2, ds = s.a1[k, samples], s.a2[k, samples], s.ds[k, samples]
        n_alt = len(s.alts[k])
        calls = [f"{g}:{ds_text(x[:n_alt])}" for g, x in zip(gt_text(a1, a2), ds, strict=True)]
        one.append(f"5\t{s.pos[k]}\t.\t{s.ref[k]}\t{','.join(s.alts[k])}\t.\tPASS\t.\tGT:DS\t" + "\t".join(calls))
        for j, alt in enumerate(s.alts[k], start=1):
            b1 = np.where(a1 < 0, -1, (a1 == j).astype(int))
            b2 = np.where(a2 < 0, -1, (a2 == j).astype(int))
            calls = [f"{g}:{ds_text(x[j - 1 : j])}" for g, x in zip(gt_text(b1, b2), ds, strict=True)]
            split.append(f"5\t{s.pos[k]}\t.\t{s.ref[k]}\t{alt}\t.\tPASS\t.\tGT:DS\t" + "\t".join(calls))
    (d / "one.vcf").write_text("\n".join(one) + "\n")
    (d / "split.vcf").write_text("\n".join(split) + "\n")
    return d / "one.vcf", d / "split.vcf"


def write_pgens(s: Sites, d: Path) -> tuple[Path, Path]:
    """The hard calls as a multi-allelic .pgen (one record per site) and as split biallelic records."""
    n_sites = len(s.ref)
    w = pgenlib.PgenWriter(bytes(str(d / "one.pgen"), "utf-8"), N, n_sites, False, allele_ct_limit=3)
    for k in range(n_sites):
        calls = np.stack([s.a1[k], s.a2[k]], axis=1).reshape(-1).astype(np.int32)
        calls[calls < 0] = -9
        w.append_alleles(calls, allele_ct=len(s.alts[k]) + 1)
    w.close()
    n_lines = sum(len(a) for a in s.alts)
    w = pgenlib.PgenWriter(bytes(str(d / "split.pgen"), "utf-8"), N, n_lines, False)
    for k in range(n_sites):
        for j in range(1, len(s.alts[k]) + 1):
            g = ((s.a1[k] == j).astype(np.int8) + (s.a2[k] == j).astype(np.int8)).astype(np.int8)
            g[s.a1[k] < 0] = -9
            w.append_biallelic(g)
    w.close()
    one = ["#CHROM\tPOS\tID\tREF\tALT"] + [f"5\t{p}\tm{k}\t{r}\t{','.join(a)}" for k, (p, r, a) in
                                          enumerate(zip(s.pos, s.ref, s.alts, strict=True))]  # fmt: skip
    split = ["#CHROM\tPOS\tID\tREF\tALT"] + [f"5\t{p}\tm{k}_{x}\t{r}\t{x}" for k, (p, r, a) in
                                            enumerate(zip(s.pos, s.ref, s.alts, strict=True)) for x in a]  # fmt: skip
    psam = "#IID\n" + "".join(f"S{i:03d}\n" for i in range(N))
    for name, pvar in (("one", one), ("split", split)):
        (d / f"{name}.pvar").write_text("\n".join(pvar) + "\n")
        (d / f"{name}.psam").write_text(psam)
    return d / "one", d / "split"


class Rows(NamedTuple):
    site: np.ndarray
    allele: np.ndarray  # effect allele index (0 = REF)
    kind: np.ndarray  # index into KINDS
    w: np.ndarray


def make_scores(s: Sites, d: Path, additive_only: bool = False) -> tuple[dict[str, Rows], list[Path]]:
    """Per score, one row per site: REF effect (score R), first ALT (A1), second ALT (A2, multi-allelic
    sites only); the other allele is another allele of the site."""
    rng = np.random.default_rng(41)
    out: dict[str, Rows] = {}
    files = []
    for name, allele in (("R", 0), ("A1", 1), ("A2", 2)):
        sites = np.arange(len(s.ref)) if allele < 2 else np.arange(N_MULTI)
        kinds = np.zeros(len(sites), dtype=int) if additive_only else rng.integers(0, 3, len(sites))
        rows = Rows(sites, np.full(len(sites), allele), kinds, np.round(rng.normal(0, 0.2, len(sites)), 6))
        alleles = [[s.ref[k], *s.alts[k]] for k in sites]
        other = [a[1] if allele == 0 else a[0] for a in alleles]
        frame = pl.DataFrame(
            {
                "chr_name": ["5"] * len(sites),
                "chr_position": s.pos[sites],
                "effect_allele": [a[allele] for a in alleles],
                "other_allele": other,
                "effect_weight": rows.w,
                "is_dominant": kinds == 1,
                "is_recessive": kinds == 2,
            }
        )
        out[name] = rows
        files.append(write_scorefile(frame, d / f"{name}{'_add' if additive_only else ''}.txt", pgs_id=name))
    return out, files


def expected(s: Sites, rows: Rows, samples: list[int], *, dosages: bool, impute: bool) -> tuple[np.ndarray, np.ndarray]:
    """(SUM, DENOM) per sample, computed straight from the allele calls / dosages."""
    total = np.zeros(len(samples))
    counted = np.zeros(len(samples))
    for site, allele, kind, w in zip(rows.site, rows.allele, rows.kind, rows.w, strict=True):
        a1, a2 = s.a1[site, samples], s.a2[site, samples]
        n_alt = len(s.alts[site])
        gt_alt = np.stack([(a1 == j).astype(float) + (a2 == j) for j in range(1, n_alt + 1)], axis=1)
        missing = a1 < 0
        if dosages:
            ds = s.ds[site, samples, :n_alt]
            written = ~np.isnan(ds).any(axis=1)
            q = np.floor(np.nan_to_num(ds) * 16384 + 0.5) / 16384  # plink2's units
            alt = np.where(written[:, None], q, gt_alt)
            missing = missing & ~written
        else:
            alt = gt_alt
        d = 2 - np.minimum(alt.sum(axis=1), 2) if allele == 0 else alt[:, allele - 1]
        t = (d, np.minimum(d, 1), np.maximum(d - 1, 0))[kind]
        contrib = np.where(missing, 0.0, w * t)
        if impute:
            p = d[~missing].mean() / 2
            contrib = np.where(missing, (2 * p if kind == 0 else p) * w, contrib)
        total += contrib
        counted += 1 if impute else ~missing
    return total, 2 * counted


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("multi")
    s = make_sites()
    vcf_one, vcf_split = write_vcfs(s, d, list(range(N)))
    pgen_one, pgen_split = write_pgens(s, d)
    rows, files = make_scores(s, d)
    return s, {"vcf_one": vcf_one, "vcf_split": vcf_split, "pgen_one": pgen_one, "pgen_split": pgen_split}, rows, files


# (plink2 and pgenlib write no multi-allelic dosages: the VCF forms cover them)
@pytest.mark.parametrize(
    ("form", "dosages"),
    [("vcf_one", False), ("vcf_split", False), ("pgen_one", False), ("pgen_split", False), ("vcf_one", True),
     ("vcf_split", True)],
)  # fmt: skip
def test_multiallelic_counts_against_numpy(multi, tmp_path: Path, form: str, dosages: bool) -> None:  # type: ignore[no-untyped-def]
    s, inputs, rows, files = multi
    for path, sopt in PATHS.items():
        sopt = sopt.model_copy(update={"hard_calls": not dosages})
        run = run_scoring(inputs[form], files, RunOptions(cache_dir=tmp_path, score=sopt,
                                                          match=MatchOptions(keep_multiallelic=True)))  # fmt: skip
        assert run.dosage_source == ("DS" if dosages else "hard calls")
        for name, r in rows.items():
            summary = run.match.summary(name)
            assert summary.n_matched == len(r.site), (form, name, summary)
            got = run.table.filter(pl.col("pgs_id") == name)
            want_sum, want_denom = expected(s, r, list(range(N)), dosages=dosages, impute=True)
            assert np.abs(got["sum"].to_numpy() - want_sum).max() < 1e-9, (form, path, name)
            assert got["denom"].to_list() == want_denom.astype(int).tolist()
        assert int(run.table["n_missing"].sum()) > 0


def test_one_person_without_imputation(multi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A single sample (the per-entry path, too few founders to impute): missing calls shrink DENOM."""
    s, _, rows, files = multi
    for sample in (3, 17):
        one, split = write_vcfs(s, tmp_path, [sample])
        for vcf in (one, split):
            for dosages in (False, True):
                opt = RunOptions(cache_dir=tmp_path, match=MatchOptions(keep_multiallelic=True),
                                 score=ScoreOptions(hard_calls=not dosages))  # fmt: skip
                run = run_scoring(vcf, files, opt)
                for name, r in rows.items():
                    got = run.table.filter(pl.col("pgs_id") == name)
                    want_sum, want_denom = expected(s, r, [sample], dosages=dosages, impute=False)
                    assert abs(got["sum"][0] - want_sum[0]) < 1e-9, (vcf.name, dosages, name)
                    assert got["denom"][0] == int(want_denom[0])


def test_default_matching_as_pgsc_calc_counts_still_right(multi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without keep_multiallelic, records with several ALTs are excluded (as the PGS Catalog calculator
    does); lines of a split site are not flagged by the calculator and are matched, and their REF
    effect alleles still count REF."""
    s, inputs, rows, files = multi
    for form in inputs:
        run = run_scoring(inputs[form], files, RunOptions(cache_dir=tmp_path, match=MatchOptions(min_overlap=0)))
        if form.endswith("one"):
            assert run.match.summary("A2").excluded_by == {"is_multiallelic": N_MULTI}, form
            assert run.match.summary("R").n_matched == N_BI, form
            continue
        for name, r in rows.items():
            assert run.match.summary(name).n_matched == len(r.site), form
            got = run.table.filter(pl.col("pgs_id") == name)
            want_sum, _ = expected(s, r, list(range(N)), dosages=form.startswith("vcf"), impute=True)
            assert np.abs(got["sum"].to_numpy() - want_sum).max() < 1e-9, (form, name)


def test_batch_scoring_counts_ref_at_multiallelic_sites(multi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Batch scoring (the sparse pass over a panel) on the multi-allelic and split .pgen files."""
    s, inputs, _, _ = multi
    rows, files = make_scores(s, tmp_path, additive_only=True)
    from prsgazer.engine.genotypes import open_genotypes

    for form in ("pgen_one", "pgen_split"):
        panel = open_genotypes(inputs[form])
        res = batch_score(panel, files, out_dir=tmp_path / form, match_options=MatchOptions(keep_multiallelic=True),
                          panel_cids={"pgen": form, "pvar": form, "psam": form})  # fmt: skip
        for name, r in rows.items():
            got = res.scores(name)
            want_sum, _ = expected(s, r, list(range(N)), dosages=False, impute=True)
            assert np.abs(got["sum"].to_numpy() - want_sum).max() < 1e-9, (form, name)
