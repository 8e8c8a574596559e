"""Build the site, serve it on 127.0.0.1 and open every page in headless Chromium.

Checks: no console errors, no failed requests, no request leaving 127.0.0.1, every
``<math>`` is laid out by the browser's MathML engine with a non-zero size, and every
figure SVG in the content (``svg[viewBox][width]``) has a non-zero size.

Playwright drives Debian's ``/usr/bin/chromium`` (its own browser download needs the
network). Without Chromium or Playwright the test is skipped, unless
``RNN_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1"}
MATHML_DISPLAYS = {"math", "inline math", "block math"}

pytestmark = pytest.mark.browser

# Show content that is hidden until clicked (inactive tabs, collapsed details) so that
# everything in it can be measured; then measure math and figures in one round trip.
MEASURE_JS = """
() => {
  for (const d of document.querySelectorAll("details")) d.open = true;
  const style = document.createElement("style");
  style.textContent = ".tabbed-block { display: block !important; }";
  document.head.appendChild(style);
  const size = (el) => {
    const r = el.getBoundingClientRect();
    return [r.width, r.height];
  };
  const maths = [...document.querySelectorAll("math")].map((el) => ({
    text: el.textContent.slice(0, 60),
    size: size(el),
    display: getComputedStyle(el).display,
  }));
  const figures = [...document.querySelectorAll(".md-content svg[viewBox][width]")]
    .filter((el) => !el.parentElement.closest("svg"))
    .map((el, i) => ({ name: el.id || `svg #${i + 1}`, size: size(el) }));
  return { maths, figures };
}
"""


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("RNN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (RNN_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return site_dir


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def sync_playwright() -> Any:
    """Playwright's entry point, or skip (fail under RNN_REQUIRE_BROWSER=1) before building."""
    _require(CHROMIUM.exists(), f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "playwright is not installed (pip install playwright)")
        raise
    return sync_playwright


def test_every_page_renders_offline(sync_playwright: Any, site: Path, base_url: str) -> None:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert "index.html" in pages
    problems: list[str] = []
    math_count: dict[str, int] = {}
    current = [""]

    def problem(text: str) -> None:
        problems.append(f"{current[0]}: {text}")

    def on_request(request: Any) -> None:
        url = urlsplit(request.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname not in LOCAL_HOSTS:
            problem(f"external request {request.method} {request.url}")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            problem(f"HTTP {response.status} for {response.url}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and problem(f"console: {m.text}"))
            page.on("pageerror", lambda e: problem(f"page error: {e}"))
            page.on("requestfailed", lambda r: problem(f"failed: {r.url} ({r.failure})"))
            page.on("request", on_request)
            page.on("response", on_response)
            for name in pages:
                current[0] = name
                page.goto(base_url + name, wait_until="networkidle", timeout=30_000)
                measured = page.evaluate(MEASURE_JS)
                math_count[name] = len(measured["maths"])
                for math in measured["maths"]:
                    width, height = math["size"]
                    if not (width > 0 and height > 0):
                        problem(f"<math> {math['text']!r} has size {width}x{height}")
                    if math["display"] not in MATHML_DISPLAYS:
                        problem(f"<math> {math['text']!r} not laid out as MathML: {math}")
                for figure in measured["figures"]:
                    width, height = figure["size"]
                    if not (width > 0 and height > 0):
                        problem(f"figure {figure['name']} has size {width}x{height}")
            context.close()
        finally:
            browser.close()

    assert not problems, "\n".join(problems)
    assert math_count["index.html"] > 0, "docs/index.md has math: the MathML pipeline broke"
