"""Genome build of a genotype file, detected from its header, and the check against a scoring file.

See docs/engine.md ("Genome build"). Evidence, strongest first: contig lengths (`##contig=<ID=chr1,
length=249250621>` is GRCh37, 248956422 GRCh38), then `##reference=` / `##assembly=` text. Unknown is
a valid answer (reported, not an error); a mismatch with the scoring file is an `InputError`.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from prsgazer.engine.common import normalize_build
from prsgazer.errors import InputError

_LENGTHS: dict[str, dict[str, int]] = {
    "GRCh37": {
        "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260,
        "6": 171115067, "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747,
        "11": 135006516, "12": 133851895, "13": 115169878, "14": 107349540, "15": 102531392,
        "16": 90354753, "17": 81195210, "18": 78077248, "19": 59128983, "20": 63025520,
        "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566,
    },
    "GRCh38": {
        "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259,
        "6": 170805979, "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422,
        "11": 135086622, "12": 133275309, "13": 114364328, "14": 107043718, "15": 101991189,
        "16": 90338345, "17": 83257441, "18": 80373285, "19": 58617616, "20": 64444167,
        "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415,
    },
}  # fmt: skip
_CONTIG_RE = re.compile(r"^##contig=<(.*)>\s*$")
_REF_PATTERNS = [
    (re.compile(r"grch38|hg38|hs38|b38|38[._-]?(full|analysis)", re.I), "GRCh38"),
    (re.compile(r"grch37|hg19|hs37|b37|human_g1k_v37|hs37d5", re.I), "GRCh37"),
    (re.compile(r"ncbi36|hg18|b36", re.I), "NCBI36"),
]


class BuildEvidence(BaseModel):
    """What the header says about the build, and why."""

    build: str | None = None
    source: str = "none"  # contig_lengths | reference | assembly | declared | none
    detail: str = "no build information in the header"


def _contig_fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in re.split(r",(?=[A-Za-z_]+=)", text):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip().strip('"')
    return out


def detect_build(header_lines: list[str]) -> BuildEvidence:
    """Detect the build from VCF/pvar `##` header lines."""
    votes: dict[str, list[str]] = {}
    checked = 0
    ref_text: tuple[str, str] | None = None
    for line in header_lines:
        m = _CONTIG_RE.match(line.strip())
        if m:
            fields = _contig_fields(m.group(1))
            chrom = re.sub(r"(?i)^chr", "", fields.get("ID", ""))
            length = fields.get("length")
            assembly = fields.get("assembly")
            if assembly and ref_text is None:
                ref_text = ("assembly", assembly)
            if not length or not length.isdigit():
                continue
            for build, table in _LENGTHS.items():
                if chrom in table:
                    checked += 1 if build == "GRCh37" else 0
                    if table[chrom] == int(length):
                        votes.setdefault(build, []).append(f"{chrom}:{length}")
            continue
        low = line.lower()
        if low.startswith("##reference=") or low.startswith("##assembly="):
            key = "reference" if low.startswith("##reference=") else "assembly"
            ref_text = (key, line.split("=", 1)[1].strip())
    if len(votes) == 1:
        build, hits = next(iter(votes.items()))
        return BuildEvidence(
            build=build,
            source="contig_lengths",
            detail=f"{len(hits)} contig length(s) match {build} (e.g. {hits[0]})",
        )
    if len(votes) > 1:
        return BuildEvidence(
            build=None,
            source="contig_lengths",
            detail="contig lengths match both GRCh37 and GRCh38: "
            + "; ".join(f"{b}: {', '.join(h[:3])}" for b, h in votes.items()),
        )
    if ref_text is not None:
        key, value = ref_text
        for pattern, build in _REF_PATTERNS:
            if pattern.search(value):
                return BuildEvidence(build=build, source=key, detail=f"##{key}={value}")
        return BuildEvidence(build=None, source=key, detail=f"##{key}={value} names no known build")
    if checked:
        return BuildEvidence(build=None, source="none", detail="contig lengths match neither GRCh37 nor GRCh38")
    return BuildEvidence()


def check_positions(build: str | None, maxima: dict[str, int]) -> str | None:
    """A contradiction when a chromosome's highest position lies beyond its end in `build` (the
    message names it and the build the positions fit); None when they fit or nothing can be said."""
    table = _LENGTHS.get(build or "")
    if table is None:
        return None
    beyond = {c: p for c, p in maxima.items() if c in table and p is not None and p > table[c]}
    if not beyond:
        return None
    c, p = next(iter(beyond.items()))
    fits = [b for b, t in _LENGTHS.items() if b != build and all(t.get(k, 0) >= v for k, v in beyond.items())]
    other = f"; they fit {fits[0]}" if fits else ""
    return f"position {c}:{p} lies beyond the end of chromosome {c} in {build} ({table[c]}){other}"


def resolve_target_build(evidence: BuildEvidence, declared: str | None, path: Path) -> BuildEvidence:
    """Combine detected evidence with a user declaration (`--build`); a contradiction is an error."""
    if declared is None:
        return evidence
    try:
        want = normalize_build(declared)
    except ValueError as exc:
        raise InputError(str(exc), field="--build") from None
    if evidence.build is not None and want is not None and evidence.build != want:
        raise InputError(
            f"genotypes are {evidence.build} ({evidence.detail}) but the declared build says {want}",
            file=path,
            field="build",
            hint="drop the declared build (--build, or the stored file's genome_build) or give the right one",
        )
    if want is None:
        return evidence
    return BuildEvidence(build=want, source="declared", detail=f"declared as {want}")


_UCSC = {"GRCh37": "hg19", "GRCh38": "hg38"}


def check_build(
    target: BuildEvidence, target_path: Path, score_build: str | None, score_path: Path, accession: str
) -> str | None:
    """Raise InputError when the builds differ; return a warning text when either is unknown."""
    if target.build is None and score_build is None:
        return f"{accession}: genome build unknown for both the genotypes and the scoring file"
    if target.build is None:
        return (
            f"{accession}: genotype build unknown ({target.detail}); assuming it is {score_build} "
            "like the scoring file (declare it with --build)"
        )
    if score_build is None:
        return f"{accession}: scoring file build not reported; assuming it is {target.build} like the genotypes"
    if target.build != score_build:
        raise InputError(
            f"genotypes are {target.build} ({target.detail}) but scoring file {score_path.name} "
            f"({accession}) has positions in {score_build}",
            file=target_path,
            field="genome build",
            hint=f"use the harmonised scoring file for {target.build} "
            f"(e.g. {accession}_hmPOS_{target.build}.txt.gz), genotypes in {score_build}, or lift the scoring file "
            f"with a UCSC chain: --chain {_UCSC.get(score_build, score_build)}To"
            f"{_UCSC.get(target.build, target.build).capitalize()}.over.chain.gz (or put it in PRSGAZER_CHAIN_DIR)",
        )
    return None
