"""PGS Catalog integration: REST client, bulk metadata, offline search, verified scoring-file download.

See docs/catalog.md. The client is async (aiohttp); the CLI group `prsgazer catalog` wraps it.
"""

from prsgazer.catalog.client import CatalogClient, normalize_pgs_id, normalize_trait_id
from prsgazer.catalog.download import (
    DownloadResult,
    download_scoring_file,
    download_scoring_files,
    verify_scoring_file,
)
from prsgazer.catalog.http import RateLimiter, ResponseCache
from prsgazer.catalog.metadata import (
    CatalogTables,
    PullResult,
    download_metadata,
    load_metadata,
    local_release,
    metadata_status,
    publish_metadata,
    pull_metadata,
    pull_metadata_from_hf,
    refresh_metadata,
)
from prsgazer.catalog.search import SearchHit, TraitHit, search_scores, search_traits_local

__all__ = [
    "CatalogClient",
    "CatalogTables",
    "DownloadResult",
    "PullResult",
    "RateLimiter",
    "ResponseCache",
    "SearchHit",
    "TraitHit",
    "download_metadata",
    "download_scoring_file",
    "download_scoring_files",
    "load_metadata",
    "local_release",
    "metadata_status",
    "normalize_pgs_id",
    "normalize_trait_id",
    "publish_metadata",
    "pull_metadata",
    "pull_metadata_from_hf",
    "refresh_metadata",
    "search_scores",
    "search_traits_local",
    "verify_scoring_file",
]
