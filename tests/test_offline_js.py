"""The vendored 3Dmol.js bundle is packaged and loads, and the offline loader never points at a CDN."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from symviz.viz import offline_js

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "symviz" / "static"
URL_RE = re.compile(r"https?://|//cdn|cdn\.", re.I)


def test_bundle_and_licence_are_vendored():
    js = STATIC / "3Dmol-min.js"
    assert js.is_file()
    assert 100_000 < js.stat().st_size < 1_000_000, "3Dmol-min.js should be the ~540 KB minified bundle"
    lic = (STATIC / "3Dmol-LICENSE.txt").read_text(encoding="utf-8")
    assert "BSD-3-Clause" in lic and "Redistribution and use in source and binary forms" in lic
    assert "3dmol@2.5.5" in lic


def test_bundle_is_package_data():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        package_data = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["symviz"]
    assert "static/*.js" in package_data and "static/*.txt" in package_data


def test_threedmol_js_reads_the_bundle():
    text = offline_js.threedmol_js()
    assert text == (STATIC / "3Dmol-min.js").read_text(encoding="utf-8")
    assert "$3Dmol" in text and "createViewer" in text


def test_html_wrapper_defines_deferred_thenable_and_no_url():
    html = offline_js.offline_3dmol_html(js="/* bundle */")
    assert "window.$3Dmolpromise" in html and "then: function" in html
    assert "setTimeout" in html, "the viewer callback must be deferred (0x0 canvas in JupyterLab otherwise)"
    assert "var exports = {}" in html, "the bundle must see a CommonJS shim, not JupyterLab's AMD define"
    assert not URL_RE.search(html), "our wrapper must not inject any http(s)/CDN URL"
    assert "src=" not in html
    full = offline_js.offline_3dmol_html()
    assert full.count("<script") == 1 and full.count("</script>") == 1
    assert len(full) < 1_000_000


def test_bad_js_argument():
    with pytest.raises(TypeError, match="js must be a str"):
        offline_js.offline_3dmol_html(js=b"bytes")
    with pytest.raises(ValueError, match="</script"):
        offline_js.offline_3dmol_html(js="a</script>b")


def test_enable_displays_once_per_kernel(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    monkeypatch.setattr(offline_js, "_displayed", False)
    assert offline_js.enable_offline_3dmol() is None
    offline_js.enable_offline_3dmol()
    assert len(shown) == 1, "the bundle must be displayed once per kernel"
    assert offline_js._displayed
    assert "$3Dmolpromise" in shown[0].data
    offline_js.enable_offline_3dmol(force=True)
    assert len(shown) == 2


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_bundle_defines_3dmol_under_the_commonjs_shim(tmp_path):
    """Evaluate our <script> body in node with a minimal window: it must define $3Dmol and the thenable."""
    html = offline_js.offline_3dmol_html()
    body = html.split(">", 1)[1].rsplit("</script>", 1)[0]
    script = tmp_path / "check.js"
    script.write_text(
        "globalThis.window = globalThis;\n"
        "globalThis.document = {createElement: () => ({getContext: () => null, style: {}}),\n"
        "  addEventListener: () => {}, getElementsByTagName: () => []};\n"
        "globalThis.navigator = {userAgent: 'node'};\n" + body + "\n"
        "if (typeof window.$3Dmol.createViewer !== 'function') { throw new Error('no $3Dmol'); }\n"
        "window.$3Dmolpromise.then(() => 42).then((v) => { if (v !== 42) process.exit(3);"
        " console.log('ok'); });\n",
        encoding="utf-8",
    )
    proc = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:] + sys.version
