"""A local stand-in for the PGS Catalog: REST API (www.pgscatalog.org/rest/) and file server
(ftp.ebi.ac.uk/pub/databases/spot/pgs/), served by aiohttp on 127.0.0.1 in a background thread.

Records are built from the real scoring-file headers in ../shared/data/scorefiles (ids, names, traits,
EFO ids, builds, variant counts, publications). Evaluation samples and metric values are SYNTHETIC
(plausible, marked below) because the shared data holds no catalog performance records.

Protocol details mirrored from PGScatalog/PGS_Catalog (rest_api/urls.py, views.py, pagination.py):
- optional trailing slash on every endpoint; unknown endpoint → 404 `{"status_code": 404, "message":
  "This REST endpoint does not exist"}`; unknown id → 200 with `{}`;
- limit/offset pagination, default 50, `limit` > 250 → 400 with the DRF message; absolute `next`/
  `previous` links; `{"size", "count", "next", "previous", "results"}`;
- throttling → 429 with `Retry-After` and `{"message": "request limit exceeded", "availableIn": "N seconds"}`;
- files under `scores/{ID}/ScoringFiles/[Harmonized/]`, `.md5` sidecars, Range / If-Range / ETag;
  bulk sheets under `metadata/pgs_all_metadata_<sheet>.csv` with the export's column labels.
Faults are injected per path: HTTP statuses, a transfer cut mid-body, a truncated gzip, another file's
bytes (wrong id/build).
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from prsgazer.engine.scorefile.header import ScoringFileHeader, read_header


def data_dir() -> Path:
    """The shared real test data: $PRSGAZER_TEST_DATA, else ../shared/data beside the repository."""
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return Path(os.environ.get("PRSGAZER_TEST_DATA", default))


FTP_PREFIX = "/pub/databases/spot/pgs/"
REST_PREFIX = "/rest/"
RELEASE = "2024-06-11"
LICENSE = (
    "PGS obtained from the Catalog should be cited appropriately, and used in accordance with any "
    "licensing restrictions set by the authors. See EBI Terms of Use "
    "(https://www.ebi.ac.uk/about/terms-of-use/) for additional details."
)

#: Real files in ../shared/data/scorefiles served as catalog files: (id, build or None, source file).
SERVED_FILES = [
    ("PGS000001", None, "PGS000001.txt.gz"),
    ("PGS000001", "GRCh37", "PGS000001_hmPOS_GRCh37.txt.gz"),
    ("PGS000001", "GRCh38", "PGS000001_hmPOS_GRCh38.txt.gz"),
    ("PGS000002", None, "PGS000002.txt.gz"),
    ("PGS000002", "GRCh37", "PGS000002_hmPOS_GRCh37.txt.gz"),
    ("PGS000002", "GRCh38", "PGS000002_hmPOS_GRCh38.txt.gz"),
    ("PGS000802", "GRCh37", "PGS000802_hmPOS_GRCh37.txt"),
    ("PGS004255", "GRCh38", "PGS004255_hmPOS_GRCh38.txt.gz"),
    ("PGS001229", None, "PGS001229_22.txt"),
]
#: Which file's header describes each score.
HEADER_SOURCE = {
    "PGS000001": "PGS000001.txt.gz",
    "PGS000002": "PGS000002.txt.gz",
    "PGS000802": "PGS000802_hmPOS_GRCh37.txt",
    "PGS004255": "PGS004255_hmPOS_GRCh38.txt.gz",
    "PGS001229": "PGS001229_22.txt",
}

# SYNTHETIC evaluation data (sample sets and metrics are invented, plausible values).
SAMPLE_SETS: dict[str, list[dict[str, Any]]] = {
    "PSS000001": [
        {"n": 67054, "cases": 33673, "controls": 33381, "ancestry": "European", "country": "U.K., U.S."},
    ],
    "PSS000002": [{"n": 5200, "cases": 2600, "controls": 2600, "ancestry": "East Asian", "country": "China"}],
    "PSS000003": [{"n": 3100, "cases": 1500, "controls": 1600, "ancestry": "East Asian", "country": "China"}],
    "PSS000004": [
        {"n": 300000, "cases": 4000, "controls": 296000, "ancestry": "European", "country": "U.K."},
        {"n": 20000, "cases": 300, "controls": 19700, "ancestry": "South Asian", "country": "U.K."},
    ],
    "PSS000005": [{"n": 100000, "cases": None, "controls": None, "ancestry": "European", "country": "U.K."}],
    "PSS000006": [
        {
            "n": 6000,
            "cases": None,
            "controls": None,
            "ancestry": "African American or Afro-Caribbean",
            "country": "U.S.",
        },
    ],
}
PERFORMANCE: list[dict[str, Any]] = [
    {
        "id": "PPM000001",
        "pgs": "PGS000001",
        "pss": "PSS000001",
        "OR": (1.55, 1.52, 1.58, None),
        "C-index": (0.622, 0.619, 0.627, None),
        "covariates": "age, study",
    },
    {"id": "PPM000002", "pgs": "PGS000001", "pss": "PSS000002", "AUROC": (0.581, 0.565, 0.597, None)},
    {
        "id": "PPM000003",
        "pgs": "PGS000002",
        "pss": "PSS000001",
        "OR": (1.51, 1.47, 1.55, None),
        "AUROC": (0.634, None, None, None),
    },
    {"id": "PPM000004", "pgs": "PGS000802", "pss": "PSS000003", "AUROC": (0.603, 0.58, 0.626, None)},
    {
        "id": "PPM000005",
        "pgs": "PGS004255",
        "pss": "PSS000004",
        "HR": (1.92, 1.85, 1.99, None),
        "AUROC": (0.712, 0.70, 0.724, None),
    },
    {
        "id": "PPM000006",
        "pgs": "PGS001229",
        "pss": "PSS000005",
        "β": (0.5, 0.49, 0.51, None),
        "other": "R² = 0.23",
    },
    {"id": "PPM000007", "pgs": "PGS001229", "pss": "PSS000006", "β": (-0.7, None, None, 0.15)},
]
ANCESTRY_DIST = {  # REST ancestry_distribution (codes) per score; SYNTHETIC
    "PGS000001": {
        "gwas": {"dist": {"EUR": 100.0}, "count": 22627},
        "eval": {"dist": {"EUR": 92.8, "EAS": 7.2}, "count": 72254},
    },
    "PGS000002": {
        "gwas": {"dist": {"EUR": 100.0}, "count": 22627},
        "eval": {"dist": {"EUR": 100.0}, "count": 67054},
    },
    "PGS000802": {
        "gwas": {"dist": {"EAS": 100.0}, "count": 10000},
        "eval": {"dist": {"EAS": 100.0}, "count": 3100},
    },
    "PGS004255": {
        "gwas": {"dist": {"EUR": 100.0}, "count": 400000},
        "eval": {"dist": {"EUR": 93.8, "SAS": 6.2}, "count": 320000},
    },
    "PGS001229": {
        "gwas": {"dist": {"EUR": 100.0}, "count": 270000},
        "eval": {"dist": {"EUR": 94.3, "AFR": 5.7}, "count": 106000},
    },
}
ANCESTRY_LABELS = {
    "EUR": "European",
    "EAS": "East Asian",
    "SAS": "South Asian",
    "AFR": "African",
    "NR": "Not Reported",
}
METHODS = {
    "PGS000001": "SNPs passing genome-wide significance",
    "PGS000002": "SNPs passing genome-wide significance",
    "PGS000802": "Genome-wide significant variants",
    "PGS004255": "GenoBoost",
    "PGS001229": "snpnet",
}
METRIC_NAMES = {
    "OR": ("Odds Ratio", "effect_sizes", "Odds Ratio (OR)"),
    "HR": ("Hazard Ratio", "effect_sizes", "Hazard Ratio (HR)"),
    "β": ("Beta", "effect_sizes", "Beta"),
    "AUROC": (
        "Area Under the Receiver-Operating Characteristic Curve",
        "class_acc",
        "Area Under the Receiver-Operating Characteristic Curve (AUROC)",
    ),
    "C-index": ("Concordance Statistic", "class_acc", "Corcordance Statistic (C-index)"),
}
_CITATION = re.compile(r"^(?P<author>.+?) et al\. (?P<journal>.+?) \((?P<year>\d{4})\)\. doi:(?P<doi>\S+)$")


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@dataclass
class Fault:
    kind: str  # status | cut | truncate_gzip | substitute | slow
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    body: Any = None
    source: str | None = None  # substitute: serve this path's bytes
    delay: float = 0.0


@dataclass
class Hit:
    path: str
    query: str
    range: str | None
    at: float = field(default_factory=time.monotonic)


class FakeCatalog:
    def __init__(self, data_dir: Path, *, release: str = RELEASE) -> None:
        self.score_dir = data_dir / "scorefiles"
        self.release = release
        self.headers: dict[str, ScoringFileHeader] = {
            pid: read_header(self.score_dir / name) for pid, name in HEADER_SOURCE.items()
        }
        self.files: dict[str, bytes] = {}
        for pid, build, name in SERVED_FILES:
            raw = (self.score_dir / name).read_bytes()
            blob = raw if raw[:2] == b"\x1f\x8b" else gzip_bytes(raw)
            self.files[self.file_path(pid, build)] = blob
        self.sheets = build_sheets(self)
        self.faults: dict[str, list[Fault]] = {}
        self.hits: list[Hit] = []
        self.serve_md5 = True
        self.throttle: tuple[int, float] | None = None  # (max requests, window seconds) on /rest/
        self._throttle_times: deque[float] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- addresses ---------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return self.base + REST_PREFIX

    @property
    def ftp_url(self) -> str:
        return self.base + FTP_PREFIX

    @staticmethod
    def file_path(pid: str, build: str | None) -> str:
        base = f"{FTP_PREFIX}scores/{pid}/ScoringFiles/"
        return f"{base}{pid}.txt.gz" if build is None else f"{base}Harmonized/{pid}_hmPOS_{build}.txt.gz"

    # -- test controls -------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.hits.clear()
            self.serve_md5 = True
            self.throttle = None
            self._throttle_times.clear()
            self.release = RELEASE

    def add_fault(self, path: str, kind: str, **kw: Any) -> None:
        with self._lock:
            self.faults.setdefault(path, []).append(Fault(kind=kind, **kw))

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for h in self.hits if h.path == path)

    def rest_hits(self) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path.startswith(REST_PREFIX)]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path)
            if not queue:
                return None
            f = queue[0]
            f.times -= 1
            if f.times <= 0:
                queue.pop(0)
            return f

    # -- server lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeCatalog:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-pgs-catalog", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake catalog server did not start")
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    # -- dispatch ------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        with self._lock:
            self.hits.append(Hit(path, request.query_string, request.headers.get("Range")))
        fault = self._take_fault(path)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind == "empty":
            return web.Response(body=b"", content_type="application/octet-stream")
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            body = fault.body
            if body is None:
                body = (
                    {"message": "request limit exceeded", "availableIn": f"{fault.retry_after or 1} seconds"}
                    if fault.status == 429
                    else {"status_code": fault.status, "message": "Internal Server Error"}
                )
            return web.json_response(body, status=fault.status, headers=headers)
        if path.startswith(REST_PREFIX):
            throttled = self._throttled()
            if throttled is not None:
                return throttled
            return self._rest(request, path[len(REST_PREFIX) :].rstrip("/"))
        if path.startswith(FTP_PREFIX):
            return await self._ftp(request, path, fault)
        return web.Response(status=404, text="Not Found")

    def _throttled(self) -> web.Response | None:
        if self.throttle is None:
            return None
        limit, window = self.throttle
        now = time.monotonic()
        with self._lock:
            while self._throttle_times and self._throttle_times[0] <= now - window:
                self._throttle_times.popleft()
            if len(self._throttle_times) >= limit:
                wait = max(1, int(self._throttle_times[0] + window - now + 0.999))
                return web.json_response(
                    {"message": "request limit exceeded", "availableIn": f"{wait} seconds"},
                    status=429,
                    headers={"Retry-After": str(wait)},
                )
            self._throttle_times.append(now)
        return None

    # -- REST ----------------------------------------------------------------------------------
    def _rest(self, request: web.Request, tail: str) -> web.Response:
        q = request.query
        routes: list[tuple[str, Any]] = [
            (r"info", lambda m: self._json(self.info())),
            (r"score/all", lambda m: self._page(request, self.score_records(request))),
            (r"score/search", lambda m: self._page(request, self._score_search(request))),
            (r"score/(?P<id>[^/]+)", lambda m: self._json(self._score(request, m["id"]))),
            (r"trait/search", lambda m: self._page(request, self._trait_search(q.get("term", "")))),
            (r"trait/(?P<id>[^/]+)", lambda m: self._json(self._trait(m["id"]))),
            (r"publication/(?P<id>[^/]+)", lambda m: self._json(self._publication(m["id"]))),
            (r"performance/search", lambda m: self._page(request, self._perf_search(q.get("pgs_id", "")))),
            (r"sample_set/(?P<id>[^/]+)", lambda m: self._json(self._sample_set(m["id"]))),
        ]
        for pattern, handler in routes:
            m = re.fullmatch(pattern, tail)
            if m:
                return handler(m)
        return web.json_response({"status_code": 404, "message": "This REST endpoint does not exist"}, status=404)

    @staticmethod
    def _json(body: Any) -> web.Response:
        return web.json_response(body)

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        try:
            limit = int(request.query.get("limit", 50))
            offset = int(request.query.get("offset", 0))
        except ValueError:
            return web.json_response({"status_code": 400, "message": "invalid limit/offset"}, status=400)
        if limit > 250:
            msg = "URL parameter 'limit' should be less than or equal to 250"
            return web.json_response({"status_code": 400, "message": msg}, status=400)
        if limit < 1:
            msg = "URL parameter 'limit' should be greater than or equal to 1"
            return web.json_response({"status_code": 400, "message": msg}, status=400)
        page = items[offset : offset + limit]
        nxt = str(request.url.update_query(limit=limit, offset=offset + limit)) if offset + limit < len(items) else None
        prev = None
        if offset > 0:
            prev = str(request.url.update_query(limit=limit, offset=max(0, offset - limit)))
        return web.json_response(
            {"size": len(page), "count": len(items), "next": nxt, "previous": prev, "results": page}
        )

    def info(self) -> dict[str, Any]:
        return {
            "rest_api": {"version": "2.0"},
            "latest_release": {"date": self.release, "scores": 5, "publications": 5, "traits": 5},
            "citation": "Lambert et al. (2021) Nature Genetics. doi:10.1038/s41588-021-00783-5",
            "terms_of_use": "https://www.ebi.ac.uk/about/terms-of-use",
        }

    def _ftp_base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}{FTP_PREFIX}"

    def publication_record(self, pid: str) -> dict[str, Any]:
        h = self.headers[pid]
        m = _CITATION.match(h.citation or "")
        assert m, h.citation
        return {
            "id": h.pgp_id,
            "title": f"Publication {h.pgp_id} (fixture title for {h.trait_reported})",
            "doi": m["doi"],
            "PMID": 25000000 + int(h.pgp_id[3:]),  # type: ignore[index]
            "journal": m["journal"],
            "firstauthor": m["author"],
            "date_publication": f"{m['year']}-01-01",
        }

    def trait_record(self, pid: str) -> dict[str, Any]:
        h = self.headers[pid]
        efo = h.trait_efo[0]
        return {
            "id": efo,
            "label": h.trait_mapped,
            "description": f"{h.trait_mapped} (fixture description)",
            "url": f"http://www.ebi.ac.uk/efo/{efo}",
        }

    def score_record(self, request: web.Request, pid: str) -> dict[str, Any]:
        h = self.headers[pid]
        ftp = self._ftp_base(request)
        base = f"{ftp}scores/{pid}/ScoringFiles/"
        return {
            "id": pid,
            "name": h.pgs_name,
            "ftp_scoring_file": f"{base}{pid}.txt.gz",
            "ftp_harmonized_scoring_files": {
                b: {"positions": f"{base}Harmonized/{pid}_hmPOS_{b}.txt.gz"} for b in ("GRCh37", "GRCh38")
            },
            "publication": self.publication_record(pid),
            "matches_publication": True,
            "samples_variants": [
                {
                    "sample_number": ANCESTRY_DIST[pid]["gwas"]["count"],
                    "ancestry_broad": ANCESTRY_LABELS[next(iter(ANCESTRY_DIST[pid]["gwas"]["dist"]))],
                    "cohorts": [],
                }
            ],
            "samples_training": [],
            "trait_reported": h.trait_reported,
            "trait_additional": None,
            "trait_efo": [self.trait_record(pid)],
            "method_name": METHODS[pid],
            "method_params": None,
            "variants_number": h.variants_number,
            "variants_interactions": 0,
            "variants_genomebuild": h.genome_build_reported or "NR",
            "weight_type": h.weight_type,
            "ancestry_distribution": ANCESTRY_DIST[pid],
            "date_release": "2020-01-01",
            "license": LICENSE,
        }

    def score_records(self, request: web.Request) -> list[dict[str, Any]]:
        return [self.score_record(request, pid) for pid in sorted(self.headers)]

    def _score(self, request: web.Request, pid: str) -> dict[str, Any]:
        pid = pid.upper()
        return self.score_record(request, pid) if pid in self.headers else {}

    def _score_search(self, request: web.Request) -> list[dict[str, Any]]:
        q = request.query
        params = 0
        ids = sorted(self.headers)
        if q.get("pgs_ids"):
            wanted = q["pgs_ids"].upper().split(",")
            ids = [i for i in ids if i in wanted]
            params += 1
        if q.get("trait_id"):
            tid = q["trait_id"].upper().replace(":", "_")
            ids = [i for i in ids if tid in self.headers[i].trait_efo]
            params += 1
        if q.get("pgp_id"):
            ids = [i for i in ids if self.headers[i].pgp_id == q["pgp_id"].upper()]
            params += 1
        return [self.score_record(request, i) for i in ids] if params else []

    def _trait_ids(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for pid in sorted(self.headers):
            for efo in self.headers[pid].trait_efo:
                out.setdefault(efo, []).append(pid)
        return out

    def _trait_full(self, efo: str) -> dict[str, Any]:
        pids = self._trait_ids()[efo]
        rec = self.trait_record(pids[0])
        return {
            **rec,
            "trait_categories": ["Cancer"] if "cancer" in rec["label"] or "carcinoma" in rec["label"] else ["Other"],
            "trait_synonyms": [],
            "trait_mapped_terms": [],
            "associated_pgs_ids": pids,
            "child_associated_pgs_ids": [],
        }

    def _trait_search(self, term: str) -> list[dict[str, Any]]:
        if not term:
            return []
        t = term.lower()
        return [
            self._trait_full(efo)
            for efo in sorted(self._trait_ids())
            if t == efo.lower() or t in (self._trait_full(efo)["label"] or "").lower()
        ]

    def _trait(self, efo: str) -> dict[str, Any]:
        efo = efo.upper().replace(":", "_")
        return {**self._trait_full(efo), "child_traits": []} if efo in self._trait_ids() else {}

    def _publication(self, pgp: str) -> dict[str, Any]:
        pgp = pgp.upper()
        for pid in sorted(self.headers):
            if self.headers[pid].pgp_id == pgp:
                pids = [p for p in sorted(self.headers) if self.headers[p].pgp_id == pgp]
                return {
                    **self.publication_record(pid),
                    "authors": f"{self.publication_record(pid)['firstauthor']}, Fixture A, Fixture B",
                    "associated_pgs_ids": {"development": pids, "evaluation": pids},
                }
        return {}

    def sample_set_record(self, pss: str) -> dict[str, Any]:
        return {
            "id": pss,
            "samples": [
                {
                    "sample_number": s["n"],
                    "sample_cases": s["cases"],
                    "sample_controls": s["controls"],
                    "sample_percent_male": None,
                    "ancestry_broad": s["ancestry"],
                    "ancestry_country": s["country"],
                    "cohorts": [],
                }
                for s in SAMPLE_SETS[pss]
            ],
        }

    def _sample_set(self, pss: str) -> dict[str, Any]:
        pss = pss.upper()
        return self.sample_set_record(pss) if pss in SAMPLE_SETS else {}

    def performance_record(self, p: dict[str, Any]) -> dict[str, Any]:
        metrics: dict[str, list[dict[str, Any]]] = {"effect_sizes": [], "class_acc": [], "othermetrics": []}
        for short, (long, group, _) in METRIC_NAMES.items():
            if short in p:
                est, lo, hi, se = p[short]
                m: dict[str, Any] = {"name_long": long, "name_short": short, "estimate": est}
                if lo is not None:
                    m.update(ci_lower=lo, ci_upper=hi)
                if se is not None:
                    m["se"] = se
                metrics[group].append(m)
        if "other" in p:
            name, val = p["other"].split(" = ")
            metrics["othermetrics"].append(
                {
                    "name_long": "Proportion of the variance explained",
                    "name_short": name,
                    "estimate": float(val),
                }
            )
        return {
            "id": p["id"],
            "associated_pgs_id": p["pgs"],
            "phenotyping_reported": self.headers[p["pgs"]].trait_reported,
            "phenotype_efo": [self.trait_record(p["pgs"])],
            "publication": self.publication_record(p["pgs"]),
            "sampleset": self.sample_set_record(p["pss"]),
            "performance_metrics": metrics,
            "covariates": p.get("covariates"),
            "performance_comments": None,
        }

    def _perf_search(self, pgs_id: str) -> list[dict[str, Any]]:
        if not pgs_id:
            return []
        return [self.performance_record(p) for p in PERFORMANCE if p["pgs"] == pgs_id.upper()]

    # -- files ---------------------------------------------------------------------------------
    async def _ftp(self, request: web.Request, path: str, fault: Fault | None) -> web.StreamResponse:
        if path.endswith(".md5"):
            blob = self._blob(path[: -len(".md5")])
            if blob is None or not self.serve_md5:
                return web.Response(status=404, text="Not Found")
            name = path.rsplit("/", 1)[-1][: -len(".md5")]
            return web.Response(text=f"{hashlib.md5(blob).hexdigest()}  {name}\n")
        blob = self._blob(path)
        if fault is not None and fault.kind == "substitute":
            blob = self._blob(fault.source or "")
        if blob is None:
            return web.Response(status=404, text="Not Found")
        etag = '"' + hashlib.md5(blob).hexdigest() + '"'
        if fault is not None and fault.kind == "truncate_gzip":
            blob = blob[: len(blob) * 2 // 3]
            etag = '"truncated"'
        start = 0
        rng = request.headers.get("Range")
        if rng and request.headers.get("If-Range", etag) == etag:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            if m:
                start = int(m.group(1))
                if start >= len(blob):
                    return web.Response(status=416, headers={"Content-Range": f"bytes */{len(blob)}"})
        body = blob[start:]
        resp = web.StreamResponse(status=206 if start else 200)
        resp.content_type = "application/octet-stream" if path.endswith(".gz") else "text/csv"
        resp.content_length = len(body)
        resp.headers["ETag"] = etag
        resp.headers["Accept-Ranges"] = "bytes"
        if start:
            resp.headers["Content-Range"] = f"bytes {start}-{len(blob) - 1}/{len(blob)}"
        await resp.prepare(request)
        if fault is not None and fault.kind == "cut":
            await resp.write(body[: len(body) // 2])
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(body)
        await resp.write_eof()
        return resp

    def _blob(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        m = re.fullmatch(re.escape(FTP_PREFIX) + r"metadata/pgs_all_metadata_(\w+)\.csv", path)
        if m and m.group(1) in self.sheets:
            return self.sheets[m.group(1)]
        return None


# -- bulk metadata sheets, in the catalog's export layout -----------------------------------------
def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return buf.getvalue().encode()


def _metric_text(v: tuple[float, float | None, float | None, float | None]) -> str:
    est, lo, hi, se = v
    if lo is not None:
        return f"{est} [{lo},{hi}]"
    if se is not None:
        return f"{est} ({se})"
    return str(est)


def build_sheets(fake: FakeCatalog) -> dict[str, bytes]:
    heads = fake.headers
    pids = sorted(heads)
    pubs = {pid: fake.publication_record(pid) for pid in pids}

    def dist(pid: str, stage: str) -> str:
        d = ANCESTRY_DIST[pid].get(stage)
        if not d:
            return ""
        items = sorted(d["dist"].items(), key=lambda kv: -kv[1])
        return "|".join(f"{ANCESTRY_LABELS[k]}:{v}" for k, v in items)

    scores = _csv(
        [
            "Polygenic Score (PGS) ID",
            "PGS Name",
            "Reported Trait",
            "Mapped Trait(s) (EFO label)",
            "Mapped Trait(s) (EFO ID)",
            "PGS Development Method",
            "PGS Development Details/Relevant Parameters",
            "Original Genome Build",
            "Number of Variants",
            "Number of Interaction Terms",
            "Type of Variant Weight",
            "PGS Publication (PGP) ID",
            "Publication (PMID)",
            "Publication (doi)",
            "Score and results match the original publication",
            "Ancestry Distribution (%) - Source of Variant Associations (GWAS)",
            "Ancestry Distribution (%) - Score Development/Training",
            "Ancestry Distribution (%) - PGS Evaluation",
            "FTP link",
            "Release Date",
            "License/Terms of Use",
        ],
        [
            [
                pid,
                heads[pid].pgs_name,
                heads[pid].trait_reported,
                heads[pid].trait_mapped,
                "|".join(heads[pid].trait_efo),
                METHODS[pid],
                "",
                heads[pid].genome_build_reported or "NR",
                heads[pid].variants_number,
                0,
                heads[pid].weight_type,
                heads[pid].pgp_id,
                f"{pubs[pid]['PMID']}.0",
                pubs[pid]["doi"],
                True,
                dist(pid, "gwas"),
                dist(pid, "dev"),
                dist(pid, "eval"),
                f"https://ftp.ebi.ac.uk/pub/databases/spot/pgs/scores/{pid}/ScoringFiles/{pid}.txt.gz",
                "2020-01-01",
                LICENSE,
            ]
            for pid in pids
        ],
    )
    metric_cols = ["HR", "OR", "β", "AUROC", "C-index"]
    perf = _csv(
        [
            "PGS Performance Metric (PPM) ID",
            "Evaluated Score",
            "PGS Sample Set (PSS)",
            "PGS Publication (PGP) ID",
            "Reported Trait",
            "Covariates Included in the Model",
            "PGS Performance: Other Relevant Information",
            "Publication (PMID)",
            "Publication (doi)",
            *[METRIC_NAMES[m][2] for m in metric_cols],
            "Other Metric(s)",
        ],
        [
            [
                p["id"],
                p["pgs"],
                p["pss"],
                heads[p["pgs"]].pgp_id,
                heads[p["pgs"]].trait_reported,
                p.get("covariates"),
                None,
                pubs[p["pgs"]]["PMID"],
                pubs[p["pgs"]]["doi"],
                *[_metric_text(p[m]) if m in p else "" for m in metric_cols],
                p.get("other", ""),
            ]
            for p in PERFORMANCE
        ],
    )
    sample_cols = [
        "Number of Individuals",
        "Number of Cases",
        "Number of Controls",
        "Percent of Participants Who are Male",
        "Sample Age",
        "Broad Ancestry Category",
        "Ancestry (e.g. French, Chinese)",
        "Country of Recruitment",
        "Additional Ancestry Description",
        "Phenotype Definitions and Methods",
        "Followup Time",
        "GWAS Catalog Study ID (GCST...)",
        "Source PubMed ID (PMID) or doi",
        "Cohort(s)",
        "Additional Sample/Cohort Information",
    ]

    def sample_row(s: dict[str, Any]) -> list[Any]:
        # pandas writes integer columns that contain NaN as floats
        as_float = lambda v: None if v is None else f"{float(v)}"  # noqa: E731
        return [
            s["n"],
            as_float(s["cases"]),
            as_float(s["controls"]),
            None,
            None,
            s["ancestry"],
            None,
            s["country"],
            None,
            None,
            None,
            None,
            None,
            "",
            None,
        ]

    evaluated_by: dict[str, list[str]] = {}
    for p in PERFORMANCE:
        evaluated_by.setdefault(p["pss"], []).append(p["pgs"])
    samplesets = _csv(
        ["PGS Sample Set (PSS)", "Polygenic Score (PGS) ID", *sample_cols],
        [
            [pss, ", ".join(dict.fromkeys(evaluated_by.get(pss, []))), *sample_row(s)]
            for pss in sorted(SAMPLE_SETS)
            for s in SAMPLE_SETS[pss]
        ],
    )
    dev = _csv(
        ["Polygenic Score (PGS) ID", "Stage of PGS Development", *sample_cols],
        [
            [
                pid,
                "Source of Variant Associations (GWAS)",
                *sample_row(
                    {
                        "n": ANCESTRY_DIST[pid]["gwas"]["count"],
                        "cases": None,
                        "controls": None,
                        "ancestry": ANCESTRY_LABELS[next(iter(ANCESTRY_DIST[pid]["gwas"]["dist"]))],
                        "country": "NR",
                    }
                ),
            ]
            for pid in pids
        ],
    )
    seen_pgp: dict[str, dict[str, Any]] = {}
    for pid in pids:
        seen_pgp.setdefault(heads[pid].pgp_id or "", pubs[pid])
    publications = _csv(
        [
            "PGS Publication/Study (PGP) ID",
            "First Author",
            "Title",
            "Journal Name",
            "Publication Date",
            "Release Date",
            "Authors",
            "digital object identifier (doi)",
            "PubMed ID (PMID)",
        ],
        [
            [
                pgp,
                p["firstauthor"],
                p["title"],
                p["journal"],
                p["date_publication"],
                "2020-01-01",
                f"{p['firstauthor']}, Fixture A",
                p["doi"],
                p["PMID"],
            ]
            for pgp, p in sorted(seen_pgp.items())
        ],
    )
    traits: dict[str, dict[str, Any]] = {}
    for pid in pids:
        rec = fake.trait_record(pid)
        traits.setdefault(rec["id"], rec)
    efo = _csv(
        ["Ontology Trait ID", "Ontology Trait Label", "Ontology Trait Description", "Ontology URL"],
        [[t["id"], t["label"], t["description"], t["url"]] for t in traits.values()],
    )
    return {
        "scores": scores,
        "performance_metrics": perf,
        "evaluation_sample_sets": samplesets,
        "score_development_samples": dev,
        "publications": publications,
        "efo_traits": efo,
    }
