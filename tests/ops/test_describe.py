"""Files describe themselves: storing a file records what it says (scoring-file header, VCF samples
and build, plink samples), infers the asset type, and refuses values that are invalid or contradict it."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from prsgazer.cli import main
from prsgazer.errors import InputError
from prsgazer.ops.describe import describe, store_file


def _vcf(path: Path, samples: list[str], build_contig: str) -> Path:
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
    lines = ["##fileformat=VCFv4.2", build_contig, '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">',
             "\t".join(columns)]  # fmt: skip
    lines += [f"1\t{1000 + i}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join("0/1" for _ in samples) for i in range(3)]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def test_a_scoring_file_is_recognised_and_its_header_recorded(shared_data: Path) -> None:
    d = describe(shared_data / "scorefiles" / "PGS000001_hmPOS_GRCh38.txt.gz")
    assert d.asset == "scoring_file"
    assert d.fields == {"pgs_id": "PGS000001", "pgs_name": "PRS77_BC", "trait": "Breast cancer",
                        "trait_efo": ["EFO_0000305"], "hm_build": "GRCh38", "n_variants": 77,
                        "weight_type": "NR"}  # fmt: skip
    bad = shared_data / "scorefiles" / "invalid_scorefile.txt"
    with pytest.raises(InputError) as exc:  # a broken scoring file is refused with its line and field
        describe(bad, "scoring_file")
    assert exc.value.file == str(bad)


def test_vcf_samples_build_and_records(tmp_path: Path) -> None:
    vcf = _vcf(tmp_path / "p.vcf.gz", ["NA1"], "##contig=<ID=1,length=248956422>")
    d = describe(vcf)
    assert d.asset == "vcf" and d.fields["sample_id"] == "NA1" and d.fields["genome_build"] == "GRCh38"
    assert "1 sample(s) and 3 record(s)" in d.notes[0]


def test_storing_checks_what_the_user_says(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    vcf = _vcf(tmp_path / "p.vcf.gz", ["NA1", "NA2"], "##contig=<ID=1,length=249250621>")  # GRCh37
    asset, _ = store_file(store, vcf, sample_id="NA2")  # type inferred, the sample named is in the file
    assert asset.asset_key == "vcf" and asset.genome_build == "GRCh37" and asset.sample_ids == ["NA1", "NA2"]
    assert asset.sample_id == "NA2" and asset.n_samples == 2
    with pytest.raises(InputError, match="unknown genome build 'hg99'"):
        store_file(store, vcf, genome_build="hg99")
    with pytest.raises(InputError, match="genome_build=GRCh38 contradicts the file, which says GRCh37"):
        store_file(store, vcf, genome_build="GRCh38")
    with pytest.raises(InputError, match="sample 'NA9' is not in the file"):
        store_file(store, vcf, sample_id="NA9")
    with pytest.raises(InputError, match="the file is a vcf, not a scoring_file"):
        store_file(store, vcf, "scoring_file")
    assert store_file(store, vcf, genome_build="hg19")[0].genome_build == "GRCh37"  # an alias is normalised


def test_storage_put_prints_what_was_detected(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["storage", "put", str(shared_data / "scorefiles" / "PGS001229_22.txt"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "detected: scoring file PGS001229: 835 rows, positions in GRCh37" in captured.err
    assert '"pgs_id": "PGS001229"' in captured.out and '"asset": "scoring_file"' in captured.out
    pgen = shared_data / "genomes" / "cineca" / "cineca_synthetic_subset.pgen"
    assert main(["storage", "put", str(pgen), "--json"]) == 0  # a plink fileset: with its companions
    captured = capsys.readouterr()
    assert '"asset": "genotypes"' in captured.out and '"n_samples": 2504' in captured.out
    assert '"pvar_cid": "bafkrei' in captured.out and '"psam_cid": "bafkrei' in captured.out
    assert main(["storage", "put", str(pgen), "genome_build=hg99"]) == 2
    assert "unknown genome build 'hg99'" in capsys.readouterr().err
