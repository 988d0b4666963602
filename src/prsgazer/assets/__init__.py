"""Typed asset dataclasses and their registry. See docs/storage.md."""

from prsgazer.assets.base import Asset, asset_class, asset_keys, coerce, create
from prsgazer.assets.types import (
    CatalogMetadata,
    Distribution,
    GenotypeBlocks,
    Genotypes,
    MatchLog,
    Percentiles,
    PrsReport,
    PrsResult,
    Psam,
    Pvar,
    ReferencePanel,
    ReferenceScores,
    ScoringFile,
    Vcf,
)

__all__ = [
    "Asset",
    "CatalogMetadata",
    "Distribution",
    "GenotypeBlocks",
    "Genotypes",
    "MatchLog",
    "Percentiles",
    "PrsReport",
    "PrsResult",
    "Psam",
    "Pvar",
    "ReferencePanel",
    "ReferenceScores",
    "ScoringFile",
    "Vcf",
    "asset_class",
    "asset_keys",
    "coerce",
    "create",
]
