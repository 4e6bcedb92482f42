"""The HTML report: every section, figures embedded, nothing fetched from the network."""

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from bayes_hcl.viz.report import SECTIONS, render_report
from tests.integration.test_cli import fitted_dir, run_cli  # noqa: F401  (fixture reused)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.images, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_report_has_every_section_and_only_embedded_figures(small_fit):
    text = render_report(small_fit, title="test report")
    page = _parse(text)
    assert page.sections == list(SECTIONS)
    assert len(page.images) >= 5
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert not page.links  # no stylesheet, script or link to fetch
    assert "http://" not in text and "https://" not in text
    for line in small_fit.identifiability().headline():
        assert html.escape(line.split(" (")[0]) in text
    assert f"seed {small_fit.seed}" in text and "&quot;versions&quot;" in text
    assert f"method=&#x27;{small_fit.method}&#x27;, seed={small_fit.seed})" in text  # the call
    assert "Noise law fitted per continuous variable" in text and "p_non_gaussian" in text


def test_report_written_by_the_api_and_the_cli(small_fit, tmp_path, fitted_dir):  # noqa: F811
    path = small_fit.report(tmp_path / "sub" / "r.html")
    assert path.is_file() and path.read_text().startswith("<!DOCTYPE html>")
    proc = run_cli("report", str(fitted_dir / "out"))
    assert proc.returncode == 0, proc.stderr
    written = (fitted_dir / "out" / "report.html").read_text()
    assert _parse(written).sections == list(SECTIONS)
    assert "<pre>bayes-hcl fit " in written and "--max-clusters 4 --seed 1</pre>" in written
    missing = run_cli("report", str(tmp_path))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "posterior.nc" in missing.stderr


_CHROMIUM = next(
    (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
    None,
)
# Flags as for any headless run on a machine without network (no background fetches).
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
)
# Appended to a copy of the report: after load, record which sections are laid out with a
# height and which images decoded, where --dump-dom can read it.
_PROBE = """<script>window.addEventListener("load", () => {
  const shown = [...document.querySelectorAll("section")]
    .filter(s => s.getBoundingClientRect().height > 20).map(s => s.id);
  const images = [...document.images];
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({shown, images: images.length, broken});
  document.body.appendChild(out);
});</script>"""


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [_CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.browser
@pytest.mark.skipif(_CHROMIUM is None, reason="no headless Chromium on this machine")
def test_report_renders_in_headless_chromium(small_fit, tmp_path):
    path = small_fit.report(tmp_path / "report.html")
    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, "--window-size=1200,6000", f"--screenshot={shot}", path.as_uri())
    assert proc.returncode == 0, proc.stderr
    assert shot.is_file() and shot.stat().st_size > 10_000
    # Chromium logs page console messages (errors included) as "CONSOLE(line)"
    assert "CONSOLE(" not in proc.stderr and "Uncaught" not in proc.stderr

    probed = tmp_path / "probed.html"
    probed.write_text(path.read_text().replace("</body>", _PROBE + "</body>"))
    proc = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    assert proc.returncode == 0, proc.stderr
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout)
    assert match, proc.stdout[-2000:]
    probe = json.loads(html.unescape(match.group(1)))
    assert probe["shown"] == list(SECTIONS)
    assert probe["images"] >= 5 and probe["broken"] == 0
    assert "CONSOLE(" not in proc.stderr and "Uncaught" not in proc.stderr
