"""The HTML report renders in headless Chromium, offline, with no script errors, and is not blank."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.metadata import ColumnConfig, ForeignKey, Metadata, TableConfig
from synthohive_spark.validation import evaluate

pytestmark = pytest.mark.spark

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ODD = 'naïve "quoted" <col>'

PROBE = """<script>
window.__errs = [];
window.onerror = function (m) { window.__errs.push('error: ' + m); };
console.error = function () { window.__errs.push('console: ' + Array.prototype.join.call(arguments, ' ')); };
window.addEventListener('error', function (e) {
  if (e.target && e.target !== window) { window.__errs.push('resource: ' + (e.target.src || e.target.href)); }
}, true);
window.addEventListener('load', function () {
  var d = document.createElement('pre'); d.id = '__probe';
  d.textContent = '@@PRO' + 'BE@@' + JSON.stringify({errors: window.__errs,
    svgs: document.querySelectorAll('svg').length,
    rects: document.querySelectorAll('svg rect').length,
    height: document.body.scrollHeight,
    width: document.body.scrollWidth,
    sections: Array.prototype.map.call(document.querySelectorAll('section'), function (s) { return s.id; })}) + '@@END' + 'PROBE@@';
  document.body.appendChild(d);
});
</script>"""


def _flags(profile: str) -> list[str]:
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr", "--v=0"]


def _png_rows(path: str) -> tuple[int, int, list[bytes]]:
    """Width, height and the raw (filtered) scanlines of an 8-bit PNG."""
    with open(path, "rb") as fh:
        data = fh.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = depth = ctype = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8
    channels = {2: 3, 6: 4, 0: 1, 4: 2}[ctype]
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    return width, height, [raw[i * stride:(i + 1) * stride] for i in range(height)]


@pytest.fixture(scope="module")
def html_report(spark, tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 600

    def users(seed, drift):
        r = np.random.default_rng(seed)
        age = r.normal(40 + 8 * drift, 10, n).round()
        return pd.DataFrame({"uid": np.arange(n), "age": age, "income": 900 * age + r.normal(0, 5000, n),
                             ODD: r.choice(["x", "y", "z"], n, p=[.5, .3, .2] if not drift else [.3, .3, .4]),
                             "since": pd.Timestamp("2020-01-01") + pd.to_timedelta(r.integers(0, 900, n), unit="D")})

    def orders(u, seed, lam):
        r = np.random.default_rng(seed)
        c = r.poisson(lam, len(u))
        return pd.DataFrame({"oid": np.arange(c.sum()), "uid": np.repeat(u["uid"].to_numpy(), c),
                             "amount": r.gamma(2, 20, c.sum())})

    ru, su, hu = users(1, 0), users(2, 0.4), users(3, 0)
    meta = Metadata(tables={
        "users": TableConfig(columns={"uid": ColumnConfig(sdtype="id"), "age": ColumnConfig(sdtype="numerical"),
                                      "income": ColumnConfig(sdtype="numerical"),
                                      ODD: ColumnConfig(sdtype="categorical"),
                                      "since": ColumnConfig(sdtype="datetime")}, primary_key="uid"),
        "orders": TableConfig(columns={"oid": ColumnConfig(sdtype="id"), "uid": ColumnConfig(sdtype="id"),
                                       "amount": ColumnConfig(sdtype="numerical")}, primary_key="oid",
                              foreign_keys=[ForeignKey(column="uid", parent_table="users", parent_column="uid")]),
    })
    del rng
    rep = evaluate({"users": spark.createDataFrame(ru), "orders": spark.createDataFrame(orders(ru, 4, 2))},
                   {"users": spark.createDataFrame(su), "orders": spark.createDataFrame(orders(su, 5, 3))},
                   metadata=meta, holdout={"users": spark.createDataFrame(hu)},
                   dcr_synthetic_rows=200, dcr_reference_rows=300)
    out = tmp_path_factory.mktemp("html")
    path = out / "report.html"
    rep.save_html(str(path))
    return rep, path


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_offline_without_errors(html_report, tmp_path):
    rep, path = html_report
    probed = tmp_path / "probed.html"
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text                     # the report itself needs no script
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    res = subprocess.run(_flags(str(tmp_path / "profile1")) + ["--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r"@@PROBE@@(.*?)@@ENDPROBE@@", res.stdout, re.S)
    assert m, "the page did not finish loading: " + res.stdout[:500]
    probe = json.loads(html.unescape(m.group(1)))
    assert probe["errors"] == []
    assert probe["sections"][:2] == ["overall", "properties"]
    assert {"table-users", "table-orders", "relationships", "privacy", "settings"} <= set(probe["sections"])
    # distribution plots (5 columns) + 2 heatmaps + cardinality + DCR histogram + score bar
    assert probe["svgs"] >= 10 and probe["rects"] > 200
    assert probe["height"] > 1500
    console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln]
    assert console == []
    # the odd column name is shown escaped, as text
    assert "naïve &quot;quoted&quot; &lt;col&gt;" in res.stdout or 'naïve "quoted" &lt;col&gt;' in res.stdout


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed (apt-get install chromium)")
def test_report_screenshot_is_not_blank(html_report, tmp_path):
    rep, path = html_report
    shot = tmp_path / "report.png"
    res = subprocess.run(_flags(str(tmp_path / "profile2"))
                         + ["--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}", path.as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
    width, height, rows = _png_rows(str(shot))
    assert (width, height) == (1280, 2400)
    # a blank page has (nearly) identical scanlines; the report has text, tables and charts
    assert len(set(rows)) > 300
    keep = os.environ.get("SYNTHOHIVE_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
