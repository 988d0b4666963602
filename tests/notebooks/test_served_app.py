"""`prsgazer notebook` served and used as a person would: headless Chromium (Debian's) opens the app,
runs the demo (click "Run the report"), and the rendered page is checked from the DOM: the results
table with the workflow's numbers and one distribution plot per score. Screenshots are saved under
the test's tmp dir; the time from the click to the results is printed, cold store and cached (not
asserted: see bench/ and docs/notebook.md for figures).
"""

from __future__ import annotations

import http.cookiejar
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import missing

from .cdp import Browser, Page, chromium
from .conftest import Served, app_env, start_notebook, stop, use_store

pytestmark = pytest.mark.slow

RUN = "window.__deep('button').find(b => b.innerText.includes('Run the report'))"
RESULTS = (
    "document.querySelectorAll('#prs-results tbody tr').length === 4 && "
    "document.querySelectorAll('figure.prs-plot svg path').length > 20"
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if chromium() is None:
        missing("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    b = Browser.launch(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


def _click_run_and_wait(page: Page, done: str, timeout: float) -> float:
    page.wait_for(f"!!{RUN}", 180)
    t0 = time.perf_counter()
    page.eval(f"{RUN}.click(); true")
    page.wait_for(done, timeout, interval=0.05)
    return time.perf_counter() - t0


def test_served_app_runs_the_demo_in_chromium(
    served_cold: Served, browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert served_cold.first_lines[0].startswith("prsgazer notebook: http://127.0.0.1:")
    page = browser.page()
    t_load = time.perf_counter()
    page.navigate(served_cold.url)
    page.wait_for(f"!!{RUN}", 240)  # the demo person is the default: its data is generated on first use
    page.wait_for("document.querySelector('#prs-genome') && document.querySelector('#prs-genome').innerText"
                  ".includes('DEMO_PERSON')", 60)  # fmt: skip
    load = time.perf_counter() - t_load
    cold = _click_run_and_wait(page, RESULTS + " && window.__text().includes('computed and stored')", 300)
    shot = page.screenshot(tmp_path / "notebook-demo.png")
    print(f"\nscreenshot: {shot}")

    # the DOM: the results table with the workflow's numbers, and the plots
    rows = page.eval("""Array.from(document.querySelectorAll('#prs-results tbody tr')).map(tr =>
        [tr.dataset.pgsId, tr.dataset.status, ...Array.from(tr.cells).map(c => c.innerText.trim())])""")
    head = page.eval("Array.from(document.querySelectorAll('#prs-results thead th')).map(th => th.innerText.trim())")
    assert head[:6] == ["score", "trait", "coverage (matched/total)", "sum", "percentile (EUR)", "z"]
    plots = page.eval("Array.from(document.querySelectorAll('figure.prs-plot')).map(f => f.dataset.pgsId)")
    assert sorted(plots) == ["DEMO001", "DEMO002", "DEMO003", "DEMO004"]
    legends = page.eval("Array.from(document.querySelectorAll('figure.prs-plot svg text')).map(t => t.textContent)")
    assert sum("DEMO_PERSON:" in t for t in legends) == 4 and any(t.startswith("EUR (n=") for t in legends)
    ancestry = page.eval("document.querySelector('#prs-ancestry').innerText")
    assert "most similar to EUR" in ancestry and "compared with EUR (ancestry)" in ancestry
    pca = page.eval("Array.from(document.querySelectorAll('figure.prs-pca svg text')).map(t => t.textContent)")
    assert any(t.startswith("DEMO_PERSON: EUR, p=") for t in pca) and any(t.startswith("AFR (n=") for t in pca)
    assert page.eval("document.querySelector('#prs-lineage').innerText.includes('vcf DEMO_PERSON.vcf.gz')")
    text = page.eval("window.__text()")
    assert "Download TSV" in text and "Download the HTML report" in text

    use_store(served_cold.base, monkeypatch)
    from prsgazer.engine.interpret.report import Report
    from prsgazer.storage import default_store

    store = default_store()
    (asset,) = store.query(asset="prs_report")
    report = Report.model_validate_json(Path(store.fetch(asset.cid).path).read_text())
    assert asset.cid in page.eval("document.querySelector('#prs-lineage').innerText")
    shown = {r[0]: r for r in rows}
    for s in report.scores:
        r = shown[s.pgs_id]
        eur = s.percentile_in("EUR")
        assert r[1] == "ok" and r[4] == f"{s.n_matched}/{s.n_variants} ({s.overlap:.0%})"
        assert r[5] == f"{s.sum:.5g}" and r[6] == f"{round(eur.percentile, 1):.4g}" and r[7] == f"{round(eur.z, 2):.3g}"

    # again: served from the store, and the page says so
    cached = _click_run_and_wait(page, RESULTS + " && window.__text().includes('served from the store (cached)')", 120)
    page.screenshot(tmp_path / "notebook-demo-cached.png")
    print(f"app ready after {load:.1f} s (demo data generated); click → results: cold store {cold:.1f} s, "
          f"cached {cached:.1f} s (targets ≤ 15 s / ≤ 3 s)")
    page.close()


def test_notebook_needs_a_token_off_loopback(tmp_path: Path) -> None:
    """Bound to every interface, the app asks for the token (from the environment, never on a command line)."""
    served = start_notebook(tmp_path, "--host", "0.0.0.0", "--port", "0",
                            env=app_env(tmp_path, PRSGAZER_NOTEBOOK_TOKEN="s3cret-token"))  # fmt: skip
    try:
        assert served.url.endswith("?access_token=s3cret-token")
        port = served.url.split(":")[2].split("?")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:  # without the token
            assert "/auth/login" in r.url
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10)
        denied.value.close()
        assert denied.value.code == 401
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(f"http://127.0.0.1:{port}/?access_token=s3cret-token", timeout=10) as r:
            assert r.status == 200 and "/auth/login" not in r.url and "<marimo-filename" in r.read().decode()
        cmdline = Path(f"/proc/{served.proc.pid}/cmdline").read_bytes()
        assert b"s3cret-token" not in cmdline and b"marimo" in cmdline and b"--token" in cmdline
    finally:
        stop(served)


def test_notebook_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "prsgazer", "notebook", "--port", str(port)]
        proc = subprocess.run(cmd, env=app_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
