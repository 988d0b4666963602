"""What the MCP tools return: compact pydantic models with the CIDs an agent chains on. See docs/mcp.md."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from prsgazer.assets import Asset
from prsgazer.ops.panels import PanelRow

#: Record fields that are store or cache bookkeeping, not something an agent filters or reasons on.
_HIDDEN = frozenset({"task_key", "metrics", "params", "code_version"})


class FileRecord(BaseModel):
    """One stored asset: its CID, type, name and fields (empty ones left out)."""

    cid: str
    asset: str
    filename: str = ""
    size: int | None = None
    created: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, a: Asset) -> FileRecord:
        kv = {k: v for k, v in a.to_keyvalues().items() if k != "asset" and k not in _HIDDEN}
        extra = {k: v for k, v in a.extra.items() if k not in ("size", "created") and k not in _HIDDEN}
        return cls(
            cid=a.cid,
            asset=a.asset_key,
            filename=a.filename,
            size=a.extra.get("size"),
            created=a.extra.get("created"),
            fields={**kv, **extra},
        )


class UploadResult(BaseModel):
    """`upload_file`: the stored asset (same bytes → same CID; fields merged into an existing record)."""

    file: FileRecord
    source: str
    already_stored: bool
    detected: list[str] = Field(default_factory=list, description="What the file says about itself, in words.")


class QueryResult(BaseModel):
    """`query_files`: matching assets, newest last within each type; `truncated` when over `limit`."""

    n_total: int
    files: list[FileRecord]
    truncated: bool = False


class DownloadResult(BaseModel):
    """`download_file`: where the verified bytes (and companion files) are now."""

    cid: str
    asset: str
    path: str
    size: int
    companions: dict[str, str] = Field(default_factory=dict)


class DeleteResult(BaseModel):
    cid: str
    asset: str
    filename: str
    deleted: bool


class PanelList(BaseModel):
    """`list_panels`: the panels a report can compare with (`name` is what `panel` takes)."""

    panels: list[PanelRow]
    notes: list[str] = Field(default_factory=list)


class ParamInfo(BaseModel):
    name: str
    type: str
    required: bool
    default: Any = None
    description: str = ""
    #: asset type when the parameter is bound from the store (by CID or key/value filters)
    asset: str | None = None


class TaskInfo(BaseModel):
    """One runnable task or workflow and its signature."""

    name: str
    kind: str
    category: str
    summary: str
    params: list[ParamInfo]
    output: str


class TaskList(BaseModel):
    n_tasks: int
    n_workflows: int
    tasks: list[TaskInfo]


class RunResult(BaseModel):
    """`run_task` / `run_workflow`: outputs as JSON (assets carry their `cid`), plus every CID found in them."""

    name: str
    kind: str
    mode: str
    duration_s: float
    outputs: Any
    cids: list[str] = Field(default_factory=list)


class ScoreHitBrief(BaseModel):
    pgs_id: str
    name: str | None = None
    trait: str | None = None
    trait_efo: list[str] = Field(default_factory=list)
    n_variants: int | None = None
    builds: list[str] = Field(default_factory=list)
    quality: str | None = None
    evaluated_in: list[str] = Field(default_factory=list)
    evaluation_n: int | None = None
    publication: str | None = None


class SearchResult(BaseModel):
    """`search_scores`: best first (relevance, then evaluation quality); from the stored catalog metadata."""

    query: str
    catalog_release: str
    n: int
    hits: list[ScoreHitBrief]
    notes: list[str] = Field(default_factory=list)


class ScoreExplanation(BaseModel):
    """One score of a result or report, read in plain language with its caveats."""

    pgs_id: str
    trait: str | None = None
    #: disease (read as a chance) | quantitative (read as higher/lower than most) | unknown
    trait_kind: str | None = None
    status: str = "ok"
    sum: float | None = None
    avg: float | None = None
    percentile: float | None = None
    z: float | None = None
    reference_group: str | None = None
    #: percentile per reference superpopulation (a report); None where unavailable, never 0
    percentiles: dict[str, float | None] = Field(default_factory=dict)
    coverage: float | None = None
    n_matched: int | None = None
    n_variants: int | None = None
    quality: str | None = None
    #: low | moderate | high, or unknown when no evaluation of the score's accuracy exists
    reliability: str | None = None
    headline: str
    details: list[str] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    prs_result_cid: str | None = None


class Explanation(BaseModel):
    """`explain_result`: a PrsResult or PrsReport in plain language (the `text`), with structured parts."""

    cid: str
    asset: str
    sample_id: str | None = None
    n_samples: int | None = None
    superpopulation: str | None = None
    scores: list[ScoreExplanation]
    notes: list[str] = Field(default_factory=list)
    related_cids: dict[str, str] = Field(default_factory=dict)
    text: str


class ServerConfig(BaseModel):
    """The `prsgazer://config` resource."""

    storage_root: str
    remote: str
    allowed_upload_dirs: list[str]
    max_upload_bytes: int
    n_tasks: int
    n_workflows: int
    workflows: list[str]
    tasks: list[str]
    catalog_metadata_release: str | None = None
    versions: dict[str, str]
