"""The peers prsgazer is measured against, installed outside the project's dependencies. See docs/benchmarks.md.

Run `uv run python bench/peers.py` to install (idempotently) and print what is where. Everything lives
under `<bench dir>/peers/` (`<user cache>/prsgazer/bench/peers/`, or `$PRSGAZER_CACHE_DIR/bench/peers/`):

- **gnomon** (`gnomon-pgs` on PyPI: a Rust engine with in-process Python bindings) in its own throwaway
  venv, `peers/gnomon-<version>/`. It is driven through `gnomon.score(score_path, genotypes, build=…)`
  in a fresh interpreter of that venv, so its time includes that interpreter's start (~20 ms).
- **plink2 + OpenBLAS**: Debian's plink2 links the generic reference BLAS through `libblas.so.3`;
  `apt-get download libopenblas0-pthread` is unpacked (`dpkg-deb -x`) into `peers/openblas/root/`, and
  plink2 is run with `LD_LIBRARY_PATH=<…>/openblas-pthread`, which replaces both `libblas.so.3` and
  `liblapack.so.3` (libgfortran5, its only other dependency, is installed with plink2). Which library
  the dynamic loader actually opens is verified with `LD_DEBUG=libs`, not assumed.
- **plink2** as Debian ships it (reference BLAS), kept as a third column.

What gnomon 0.2.0 does that a fair comparison must know (read from its source, checked on data):
- It writes converted scoring files *beside the scoring files*: `X.gnomon.tsv` and
  `X.gnomon.sorted.gnomon.tsv` (for `X.txt.gz`: `X.txt.gnomon.tsv`, …), reused while newer than the
  source. A cold run needs a fresh copy of the score directory (`fresh_score_dir`: hard links, gnomon
  never writes the sources).
- It writes `<genotypes stem>_<score dir or file stem>.sscore` beside the genotypes, and refuses to run
  when that file exists: `run_gnomon` works in a directory of symbolic links to the genotype files.
- Its `.sscore` has `<score>_AVG` and `<score>_MISSING_PCT` per score, no sum: AVG = SUM / (variants
  matched − variants missing for that person). A missing call contributes 0 (no mean imputation), so
  SUM = AVG × (n_matched − n_missing), n_missing = MISSING_PCT × n_matched / 100 (peers_check).
- Matching: chromosome and position, then the exact allele pair in either orientation. No strand
  flips and no exclusion of strand-ambiguous (A/T, C/G) pairs (prsgazer and pgsc_calc exclude them by
  default; compare with keep_ambiguous, or on data without them). Two rows of one score on the same
  variant are added together and the variant counted once (pgsc_calc and prsgazer drop both).
- VCF input is streamed natively (no conversion): FILTER is ignored (a LowQual call counts) and
  multi-allelic records are scored per allele (a 1/2 call gives each ALT dosage 1), where prsgazer by
  default drops calls failing FILTER and excludes multi-allelic matches (pgsc_calc's rules).
- A .pgen is read through an adapter that presents it as a .bed (per its source: hard calls, a dosage rounded
  to the nearest whole count within ±0.1, else missing).
- Sums are float64-exact (within 1e-14 relative of numpy in every workload here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_engine import CmdStats, measure_cmd_stats  # noqa: E402
from bench_reference import bench_dir  # noqa: E402

#: gnomon version measured by default (the one issue 15 was measured with); `--gnomon-version` changes it.
GNOMON_VERSION = "0.2.0"
OPENBLAS_PACKAGE = "libopenblas0-pthread"
OPENBLAS_SUBDIR = "usr/lib/x86_64-linux-gnu/openblas-pthread"


def peers_dir() -> Path:
    d = bench_dir() / "peers"
    d.mkdir(parents=True, exist_ok=True)
    return d


# ------------------------------------------------------------------------------------------------
# gnomon


@dataclass(frozen=True)
class Gnomon:
    python: Path
    version: str


def ensure_gnomon(version: str = GNOMON_VERSION) -> Gnomon:
    """gnomon-pgs==version in `peers/gnomon-<version>/` (created once; `uv venv` when uv is there)."""
    venv = peers_dir() / f"gnomon-{version}"
    py = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        shutil.rmtree(venv, ignore_errors=True)
        print(f"installing gnomon-pgs=={version} into {venv}…", flush=True)
        uv = shutil.which("uv")
        base = sys.executable
        if uv:
            subprocess.run([uv, "venv", "-q", "--python", base, str(venv)], check=True)
            subprocess.run([uv, "pip", "install", "-q", "--python", str(py), f"gnomon-pgs=={version}"], check=True)
        else:
            subprocess.run([base, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", f"gnomon-pgs=={version}"], check=True)
        got = subprocess.run(
            [str(py), "-c", "import gnomon; print(gnomon.__version__)"], capture_output=True, text=True, check=True
        ).stdout.strip()
        marker.write_text(got)
    return Gnomon(python=py, version=marker.read_text().strip())


GNOMON_CODE = """
import sys, time
import gnomon
t = time.perf_counter()
gnomon.score({score!r}, {geno!r}, build={build!r})
print("GNOMON_SECONDS", time.perf_counter() - t)
"""


def fresh_score_dir(files: list[Path], dest: Path) -> Path:
    """A new directory holding exactly `files` (hard links, else copies): no gnomon cache beside them."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for f in files:
        try:
            os.link(f, dest / f.name)
        except OSError:
            shutil.copy2(f, dest / f.name)
    return dest


def link_genotypes(src: Path, run_dir: Path, exts: tuple[str, ...]) -> Path:
    """`run_dir/<name>` with symbolic links to `<src><ext>`: gnomon writes its `.sscore` beside the genotypes."""
    run_dir.mkdir(parents=True, exist_ok=True)
    name = src.name
    for ext in exts:
        link = run_dir / f"{name}{ext}"
        link.unlink(missing_ok=True)
        link.symlink_to(Path(f"{src}{ext}").resolve())
    return run_dir / name


@dataclass
class GnomonRun:
    stats: CmdStats  # the whole process: interpreter start, import, gnomon.score
    in_call: float  # seconds inside gnomon.score
    sscore: Path
    new_files: list[str] = field(default_factory=list)  # written beside the scoring files


def run_gnomon(g: Gnomon, score: Path, genotypes: Path, run_dir: Path, build: str) -> GnomonRun:
    """`gnomon.score(score, genotypes)` in a fresh interpreter; `genotypes` is linked into `run_dir` first.

    `genotypes` is a plink prefix (pgen/pvar/psam) or a VCF path. Any earlier `.sscore` there is removed.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if str(genotypes).endswith((".vcf", ".vcf.gz")):
        target = run_dir / genotypes.name
        target.unlink(missing_ok=True)
        target.symlink_to(genotypes.resolve())
        stem = genotypes.name.removesuffix(".gz").removesuffix(".vcf")
    else:
        target = link_genotypes(genotypes, run_dir, (".pgen", ".pvar", ".psam"))
        stem = genotypes.name
    for old in run_dir.glob("*.sscore*"):
        old.unlink()
    before = {p.name for p in score.parent.iterdir()} | {p.name for p in (score.iterdir() if score.is_dir() else [])}
    code = GNOMON_CODE.format(score=str(score), geno=str(target), build=build)
    st = measure_cmd_stats([str(g.python), "-c", code])
    in_call = float(next(ln.split()[1] for ln in st.stdout.splitlines() if ln.startswith("GNOMON_SECONDS")))
    score_stem = score.name if score.is_dir() else score.name.split(".")[0]
    sscore = run_dir / f"{stem}_{score_stem}.sscore"
    if not sscore.exists():
        found = sorted(run_dir.glob("*.sscore"))
        if len(found) != 1:
            raise SystemExit(f"gnomon wrote no single .sscore in {run_dir}: {found}\n{st.stderr[-3000:]}")
        sscore = found[0]
    after = {p.name for p in score.parent.iterdir()} | {p.name for p in (score.iterdir() if score.is_dir() else [])}
    return GnomonRun(st, in_call, sscore, sorted(after - before))


# ------------------------------------------------------------------------------------------------
# plink2, with and without OpenBLAS


@dataclass(frozen=True)
class Plink2:
    label: str
    exe: str
    env: dict[str, str]
    blas: str  # the libblas.so.3 the loader opened (from LD_DEBUG=libs)


def ensure_openblas() -> Path:
    """`peers/openblas/root/usr/lib/x86_64-linux-gnu/openblas-pthread`, downloaded and unpacked once."""
    root = peers_dir() / "openblas"
    lib = root / "root" / OPENBLAS_SUBDIR
    if (lib / "libblas.so.3").exists():
        return lib
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("*.deb"):
        old.unlink()
    print(f"apt-get download {OPENBLAS_PACKAGE} into {root}…", flush=True)
    subprocess.run(["apt-get", "download", OPENBLAS_PACKAGE], cwd=root, check=True, capture_output=True)
    deb = next(root.glob(f"{OPENBLAS_PACKAGE}_*.deb"))
    tmp = root / "root.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
    shutil.rmtree(root / "root", ignore_errors=True)
    tmp.rename(root / "root")
    if not (lib / "libblas.so.3").exists():
        raise SystemExit(f"{deb.name} has no {OPENBLAS_SUBDIR}/libblas.so.3")
    return lib


def loaded_blas(exe: str, env: dict[str, str]) -> str:
    """The libblas.so.3 the dynamic loader opens for `exe` (run once with LD_DEBUG=libs)."""
    proc = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, env={**os.environ, **env, "LD_DEBUG": "libs"}
    )
    # the loader prints "calling init: <path>" for every library it initialises
    inits = [ln.split("calling init:")[1].strip() for ln in proc.stderr.splitlines() if "calling init:" in ln]
    blas = [p for p in inits if Path(p).name.startswith("libblas.so")]
    if not blas:
        return "none (statically linked?)"
    if "openblas" in Path(blas[-1]).resolve().name.lower() or "openblas" in blas[-1]:
        return blas[-1]
    return str(Path(blas[-1]).resolve())


def plink2_peers(openblas: bool = True) -> list[Plink2]:
    """plink2 + OpenBLAS (verified to load it) and Debian's plink2 (reference BLAS)."""
    exe = shutil.which("plink2")
    if exe is None:
        return []
    out = []
    if openblas:
        lib = ensure_openblas()
        env = {"LD_LIBRARY_PATH": str(lib)}
        blas = loaded_blas(exe, env)
        if str(lib) not in blas:
            raise SystemExit(f"LD_LIBRARY_PATH={lib} did not take: plink2 loaded {blas}")
        out.append(Plink2("plink2+OpenBLAS", exe, env, blas))
    out.append(Plink2("plink2", exe, {}, loaded_blas(exe, {})))
    return out


def plink2_version() -> str:
    exe = shutil.which("plink2")
    if not exe:
        return "not installed"
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()


def run_plink2(p: Plink2, args: list[str], threads: int | None = None) -> CmdStats:
    """plink2 with `--threads` (all cores by default), measured."""
    return measure_cmd_stats([p.exe, "--threads", str(threads or os.cpu_count() or 1), *args], env=p.env)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gnomon-version", default=GNOMON_VERSION)
    a = ap.parse_args()
    g = ensure_gnomon(a.gnomon_version)
    info = {
        "peers_dir": str(peers_dir()),
        "gnomon": {"version": g.version, "python": str(g.python)},
        "plink2": plink2_version(),
        "plink2_variants": [{"label": p.label, "env": p.env, "blas": p.blas} for p in plink2_peers()],
    }
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
