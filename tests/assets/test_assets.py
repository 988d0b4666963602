from __future__ import annotations

from pathlib import Path

import pytest

from prsgazer.assets import (
    Asset,
    Distribution,
    Genotypes,
    PrsResult,
    ReferencePanel,
    ScoringFile,
    Vcf,
    asset_class,
    asset_keys,
    create,
)
from prsgazer.errors import AssetError


def test_registry_has_the_first_types() -> None:
    for key, cls in {
        "vcf": Vcf,
        "genotypes": Genotypes,
        "scoring_file": ScoringFile,
        "reference_panel": ReferencePanel,
        "distribution": Distribution,
        "prs_result": PrsResult,
    }.items():
        assert asset_class(key) is cls
        assert key in asset_keys()


def test_unknown_asset_key_lists_allowed() -> None:
    with pytest.raises(AssetError) as exc:
        asset_class("vfc")
    msg = str(exc.value)
    assert "'vfc'" in msg and "vcf" in msg and "scoring_file" in msg
    assert exc.value.exit_code == 2


def test_keyvalues_roundtrip_keeps_types() -> None:
    a = ReferencePanel(
        panel="1kg",
        genome_build="GRCh38",
        n_samples=3202,
        superpopulations=["AFR", "EUR"],
        pvar_cid="bafkreia",
        psam_cid="bafkreib",
    )
    kv = a.to_keyvalues()
    assert kv == {
        "asset": "reference_panel",
        "panel": "1kg",
        "genome_build": "GRCh38",
        "n_samples": 3202,
        "superpopulations": ["AFR", "EUR"],
        "pvar_cid": "bafkreia",
        "psam_cid": "bafkreib",
    }
    back = Asset.from_keyvalues(kv, cid="bafkreix")
    assert isinstance(back, ReferencePanel)
    assert back == ReferencePanel(cid="bafkreix", **{k: v for k, v in kv.items() if k != "asset"})


def test_strict_write_rejects_unknown_field_naming_allowed() -> None:
    with pytest.raises(AssetError) as exc:
        Vcf.validate_keyvalues({"sampel_id": "x"})
    assert exc.value.field == "sampel_id"
    assert "sample_id" in str(exc.value) and "genome_build" in str(exc.value)


def test_strict_write_rejects_reserved_and_wrong_types() -> None:
    with pytest.raises(AssetError, match="set by the store"):
        Vcf.validate_keyvalues({"cid": "bafkrei"})
    with pytest.raises(AssetError, match="expected an integer"):
        Vcf.validate_keyvalues({"n_samples": "many"})
    with pytest.raises(AssetError, match="true/false"):
        Distribution.validate_keyvalues({"checks_passed": "maybe"})


def test_create_coerces_cli_strings() -> None:
    a = create("reference_panel", panel="p", n_samples="12", superpopulations="EUR,AFR", path="/x/p.pgen")
    assert isinstance(a, ReferencePanel)
    assert a.n_samples == 12 and a.superpopulations == ["EUR", "AFR"] and a.path == Path("/x/p.pgen")
    d = create("distribution", checks_passed="yes")
    assert d.checks_passed is True


def test_graceful_read_keeps_unknown_fields_and_keys() -> None:
    a = Asset.from_keyvalues({"asset": "vcf", "sample_id": "S1", "future_field": 3, "n_samples": "oops"})
    assert isinstance(a, Vcf)
    assert a.sample_id == "S1"
    assert a.extra == {"future_field": 3, "n_samples": "oops"}
    b = Asset.from_keyvalues({"asset": "from_the_future", "x": 1}, cid="bafkreiq")
    assert type(b) is Asset and b.extra == {"x": 1} and b.cid == "bafkreiq"


def test_lineage_and_companion_declarations() -> None:
    assert ReferencePanel.companions == ("pvar_cid", "psam_cid", "related_cid")
    assert set(PrsResult.lineage_fields()) == {"genotypes_cid", "scoring_file_cid", "match_log_cid", "part_cids"}
    assert Genotypes.lineage_fields() == ["vcf_cid", "blocks_cid", "pvar_cid", "psam_cid"]
    desc = ScoringFile.describe()
    assert desc["asset"] == "scoring_file" and desc["fields"]["trait_efo"] == "list[str]"


def test_duplicate_asset_key_is_refused() -> None:
    from dataclasses import dataclass
    from typing import ClassVar

    with pytest.raises(TypeError, match="already registered"):

        @dataclass(kw_only=True)
        class Impostor(Asset):
            asset_key: ClassVar[str] = "vcf"
