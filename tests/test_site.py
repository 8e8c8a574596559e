"""Open every page of the built site in headless Chromium, at 1280 px and at 390 px (a
phone), served under the sub-path of ``site_url`` as GitHub Pages serves it.

Checks, each a count that must be zero:

- console errors, failed requests, requests leaving 127.0.0.1, HTTP errors;
- pages wider than the window (at either width);
- code blocks that scroll sideways at 1280 px (on a phone, code scrolls inside its block);
- copy buttons that would copy ``>>>`` or ``...`` prompts;
- tables wider than their box at 1280 px, and at 390 px tables not inside a box of their
  own that scrolls;
- figures hidden until the reader clicks (in an inactive tab or a closed ``details``), and
  figures without a text alternative (``<img alt>``, or ``role="img"`` + ``aria-label``);
- ``<math>`` not laid out as MathML, or of zero size; the math font not loaded;
- the 404 page, served for a missing path under the sub-path, loading anything that fails.

``RNN_SCREENSHOTS=<dir>`` also saves a full-page screenshot of every page at both widths in
light and dark mode (``<page>-1280-light.png``...), for looking at.

Playwright drives Debian's ``/usr/bin/chromium`` (its own browser download needs the
network). Without Chromium or Playwright the test is skipped, unless
``RNN_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from docs_site import site_dir

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
WIDTHS = {"1280": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}
MATH_FONT = "STIX Two Math"

pytestmark = pytest.mark.browser

# Measured as the reader first sees the page (nothing clicked).
MEASURE_JS = r"""
async () => {
  await document.fonts.ready;
  const content = document.querySelector(".md-content");
  const visible = (el) => el.getClientRects().length > 0
    && el.getBoundingClientRect().width > 0;
  const overflows = (el) => el.scrollWidth > el.clientWidth + 1;
  const label = (el) => (el.textContent || el.getAttribute("alt") || "").trim().slice(0, 50);
  const scrollsItself = (el) => {
    for (let a = el.parentElement; a && a !== content; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (["auto", "scroll"].includes(style.overflowX)) return a.clientWidth <= content.clientWidth;
    }
    return false;
  };
  const codes = [...content.querySelectorAll("pre > code")];
  const tables = [...content.querySelectorAll("table")];
  const imgs = [...content.querySelectorAll("img")];
  const svgs = [...content.querySelectorAll("svg")].filter(
    (el) => !el.parentElement.closest("svg") && !el.closest(".md-button, a, button, .twemoji")
      && el.getBoundingClientRect().width > 48);
  const figures = [...imgs, ...svgs];
  const maths = [...content.querySelectorAll("math")];
  return {
    pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    codeOverflow: codes.filter(visible).filter(overflows).map(label),
    tableOverflow: tables.filter(visible)
      .filter((t) => t.getBoundingClientRect().width > content.clientWidth + 1
        || (t.parentElement && overflows(t.parentElement)))
      .map((t) => ({ text: label(t), boxed: scrollsItself(t) })),
    hiddenFigures: figures.filter((el) => !visible(el)).map((el) => el.outerHTML.slice(0, 80)),
    noAlt: [
      ...imgs.filter((el) => !(el.getAttribute("alt") || "").trim()),
      ...svgs.filter((el) => !((el.getAttribute("role") === "img")
        && (el.getAttribute("aria-label") || el.querySelector("title")))),
    ].map((el) => el.outerHTML.slice(0, 80)),
    maths: maths.map((el) => ({
      text: el.textContent.slice(0, 60),
      size: [el.getBoundingClientRect().width, el.getBoundingClientRect().height],
      display: getComputedStyle(el).display,
      hidden: !visible(el),
    })),
    // What Material's copy button copies: the closest [data-copy], else the code's text.
    promptCopies: [...content.querySelectorAll("pre > code")]
      .map((el) => el.closest("[data-copy]")?.getAttribute("data-copy") ?? el.innerText)
      .filter((text) => /^(>>>|\.\.\.)( |$)/m.test(text))
      .map((text) => text.slice(0, 50)),
    mathFont: [...document.fonts].some(
      (f) => f.family.replaceAll('"', "") === "%s" && f.status === "loaded"),
  };
}
""".replace("%s", MATH_FONT)


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("RNN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (RNN_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def _site_prefix(site: Path) -> str:
    """The path of ``site_url`` (``/rnn/``), read from the sitemap."""
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    loc = re.search(r"<loc>([^<]+)</loc>", sitemap)
    assert loc, "the sitemap lists no page: is site_url set?"
    return urlsplit(loc.group(1)).path or "/"


class _SubPathHandler(SimpleHTTPRequestHandler):
    """The site under ``prefix``; a missing path answers 404 with 404.html (GitHub Pages)."""

    prefix = "/"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        if not self.path.startswith(self.prefix):
            self.send_error(404)
            return None
        self.path = "/" + self.path[len(self.prefix) :]
        path = Path(self.translate_path(self.path))
        if (path.is_dir() and not (path / "index.html").is_file()) or not path.exists():
            body = (Path(self.directory) / "404.html").read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return super().send_head()


@pytest.fixture(scope="module")
def site() -> Path:
    return site_dir()


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    prefix = _site_prefix(site)
    handler = functools.partial(
        type("Handler", (_SubPathHandler,), {"prefix": prefix}), directory=str(site)
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require(CHROMIUM.exists(), f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "playwright is not installed (pip install playwright)")
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class _Watch:
    """Collects problems a page causes while it loads."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        self.current = ""
        self.allowed_404: str | None = None
        page.on("console", self.on_console)
        page.on("pageerror", lambda e: self.add(f"page error: {e}"))
        page.on("requestfailed", self.on_failed)
        page.on("request", self.on_request)
        page.on("response", self.on_response)

    def add(self, text: str) -> None:
        self.problems.append(f"{self.current}: {text}")

    def on_console(self, message: Any) -> None:
        # The browser logs a 404 answer as an error, also the expected one.
        if message.type == "error" and message.location.get("url") != self.allowed_404:
            self.add(f"console: {message.text}")

    def on_failed(self, request: Any) -> None:
        # ERR_ABORTED: the next navigation cancelled a late request (favicon, search
        # worker); a missing file shows up as an HTTP error instead.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.add(f"failed: {request.url} ({request.failure})")

    def on_request(self, request: Any) -> None:
        url = urlsplit(request.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname not in LOCAL_HOSTS:
            self.add(f"external request {request.method} {request.url}")

    def on_response(self, response: Any) -> None:
        if response.status >= 400 and response.url != self.allowed_404:
            self.add(f"HTTP {response.status} for {response.url}")


def _check_page(name: str, width: str, measured: dict[str, Any]) -> list[str]:
    where = f"{name} @{width}px"
    problems = []
    if measured["pageOverflow"] > 0:
        problems.append(f"{where}: page {measured['pageOverflow']} px wider than the window")
    if width == "1280":
        problems += [f"{where}: code scrolls sideways: {c!r}" for c in measured["codeOverflow"]]
        problems += [f"{where}: table overflows: {t['text']!r}" for t in measured["tableOverflow"]]
    else:
        problems += [
            f"{where}: table overflows without a scrolling box: {t['text']!r}"
            for t in measured["tableOverflow"]
            if not t["boxed"]
        ]
    problems += [f"{where}: copy button copies prompts: {c!r}" for c in measured["promptCopies"]]
    problems += [f"{where}: figure hidden until clicked: {f}" for f in measured["hiddenFigures"]]
    problems += [f"{where}: figure without text alternative: {f}" for f in measured["noAlt"]]
    for math in measured["maths"]:
        w, h = math["size"]
        if math["display"] not in MATHML_DISPLAYS:
            problems.append(f"{where}: <math> {math['text']!r} not laid out as MathML")
        elif not math["hidden"] and not (w > 0 and h > 0):
            problems.append(f"{where}: <math> {math['text']!r} has size {w}x{h}")
    if measured["maths"] and not measured["mathFont"]:
        problems.append(f"{where}: the math font {MATH_FONT!r} did not load")
    return problems


def test_every_page_reads_well(browser: Any, site: Path, base_url: str) -> None:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("index.html"))
    assert "index.html" in pages
    shots = os.environ.get("RNN_SCREENSHOTS")
    schemes = ["light", "dark"] if shots else ["light"]
    problems: list[str] = []
    math_count: dict[str, int] = {}
    for scheme in schemes:
        for width, viewport in WIDTHS.items():
            context = browser.new_context(viewport=viewport, color_scheme=scheme)
            page = context.new_page()
            watch = _Watch(page)
            for name in pages:
                watch.current = f"{name} @{width}px {scheme}"
                url = base_url + name.removesuffix("index.html")
                page.goto(url, wait_until="networkidle", timeout=30_000)
                measured = page.evaluate(MEASURE_JS)
                math_count[name] = len(measured["maths"])
                if scheme == "light":
                    problems += _check_page(name, width, measured)
                if shots:
                    stem = name.removesuffix("index.html").strip("/").replace("/", "-") or "home"
                    out = Path(shots) / f"{stem}-{width}-{scheme}.png"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(out), full_page=True)
            problems += watch.problems
            context.close()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert math_count["index.html"] > 0, "docs/index.md has math: the MathML pipeline broke"


def test_404_page_under_the_sub_path(browser: Any, base_url: str) -> None:
    """GitHub Pages answers a missing path with 404.html: its styles, scripts and links must
    resolve from any depth under the site's sub-path."""
    context = browser.new_context(viewport=WIDTHS["1280"])
    page = context.new_page()
    watch = _Watch(page)
    missing = base_url + "no/such/page/"
    watch.current, watch.allowed_404 = "404", missing
    response = page.goto(missing, wait_until="networkidle", timeout=30_000)
    assert response is not None and response.status == 404
    styled = page.evaluate("() => getComputedStyle(document.querySelector('.md-header')).position")
    links = page.evaluate(
        "() => [...document.querySelectorAll('.md-nav a[href]')].map((a) => a.href)"
    )
    for link in sorted(set(links))[:50]:
        if urlsplit(link).hostname in LOCAL_HOSTS:
            status = context.request.get(link.split("#")[0]).status
            if status != 200:
                watch.add(f"navigation link {link} answers {status}")
    context.close()
    assert styled in {"sticky", "fixed"}, "the 404 page's stylesheet did not load"
    assert links, "the 404 page has no navigation"
    assert not watch.problems, "\n".join(watch.problems)


def test_sitemap_lists_every_page_under_site_url(site: Path) -> None:
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    urls = re.findall(r"<loc>([^<]+)</loc>", sitemap)
    prefix = urls[0] if urls else ""
    assert prefix.startswith(("http://", "https://")) and prefix.endswith("/"), urls[:1]
    pages = {p.parent.relative_to(site).as_posix() for p in site.rglob("index.html")}
    listed = {url.removeprefix(prefix).rstrip("/") or "." for url in urls}
    assert listed == pages
