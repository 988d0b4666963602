"""A small Chrome DevTools Protocol client for the notebook tests: headless Chromium from Debian,
driven over its debugging WebSocket (no browser download, no network). See docs/notebook.md.

`Browser.launch()` starts `/usr/bin/chromium` with a throw-away profile and an OS-chosen debugging
port; `Page` evaluates JavaScript (with `deep()` to reach into shadow roots, where marimo renders its
widgets), clicks, waits for conditions and takes PNG screenshots.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--remote-debugging-port=0",
]  # fmt: skip

#: JavaScript helpers installed in the page: deep(selector) finds elements in the document and in
#: every open shadow root; text() is the visible text of the whole page, shadow roots included.
HELPERS = """
window.__deep = function (sel, root) {
  root = root || document; let out = Array.from(root.querySelectorAll(sel));
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) out = out.concat(window.__deep(sel, el.shadowRoot));
  }
  return out;
};
window.__text = function (root) {
  root = root || document.body;
  const own = root instanceof ShadowRoot
    ? Array.from(root.children).map(c => c.innerText || '') : [root.innerText || ''];
  let t = own.join('\\n');
  for (const el of root.querySelectorAll('*')) { if (el.shadowRoot) t += '\\n' + window.__text(el.shadowRoot); }
  return t;
};
"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, ws_url: str) -> None:
        self._conn = connect(ws_url, max_size=256 * 2**20, open_timeout=20)
        self.ws = self._conn.__enter__()
        self.ids = itertools.count(1)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60.0) -> dict[str, Any]:
        n = next(self.ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params or {}}))
        end = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            if msg.get("id") == n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str) -> Any:
        r = self.send("Runtime.evaluate", {"expression": HELPERS + expression, "returnByValue": True,
                                          "awaitPromise": True})  # fmt: skip
        if "exceptionDetails" in r:
            raise RuntimeError(f"JavaScript failed: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def navigate(self, url: str) -> None:
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def wait_for(self, expression: str, timeout: float, interval: float = 0.1) -> Any:
        """Evaluate `expression` until it is truthy; its value, or TimeoutError."""
        end = time.monotonic() + timeout
        last = ""
        while True:
            try:
                value = self.eval(expression)
            except RuntimeError as exc:  # e.g. an element not there yet
                value, last = None, str(exc)
            if value:
                return value
            if time.monotonic() > end:
                raise TimeoutError(f"waited {timeout} s for: {expression}" + (f" (last error: {last})" if last else ""))
            time.sleep(interval)

    def screenshot(self, path: Path, width: int = 1400) -> Path:
        height = int(self.eval("Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)") or 2000)
        for el_height in (self.eval("Math.max(...window.__deep('*').map(e => e.scrollHeight || 0))"),):
            height = max(height, int(el_height or 0))
        height = min(max(height, 900), 12000)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})  # fmt: skip
        time.sleep(0.5)
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        self._conn.__exit__(None, None, None)


class Browser:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port = proc, port

    @classmethod
    def launch(cls, profile: Path, *, timeout: float = 30.0) -> Browser:
        exe = chromium()
        assert exe is not None, "chromium is not installed"
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a stale one names a dead port
        proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1000",
                                 "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        active = profile / "DevToolsActivePort"
        end = time.monotonic() + timeout
        while not (active.exists() and active.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                raise RuntimeError(f"chromium did not start (exit {proc.poll()})")
            time.sleep(0.1)
        return cls(proc, int(active.read_text().split()[0]))

    def page(self) -> Page:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.loads(r.read())
        page = next(t for t in targets if t.get("type") == "page")
        return Page(page["webSocketDebuggerUrl"])

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
