"""Fixtures for real-browser tests: a private JupyterLab server and Debian Chromium driven by Playwright.

- ``lab_server`` (session): ``jupyter lab`` from the current (venv) Python on 127.0.0.1 with a random free
  port and token. Its root is a temporary COPY of ``tutorials/`` (``$SYMVIZ_TUTORIALS_DIR`` overrides the
  source directory), so nothing in the repository is modified; ``../data`` is linked so relative data paths
  work as in a checkout. User Jupyter config/settings are isolated in temp dirs; autosave and the news
  prompt are off, and every cell is attached to the DOM (windowing mode "none").
- ``browser`` (session): Chromium from ``shutil.which("chromium")`` (never ``playwright install``).
- ``lab`` (per test): a fresh context (1300x2200 viewport) in which every request to a host other than
  127.0.0.1 is recorded and aborted, and uncaught page errors (``pageerror``) and console warnings are
  recorded (``LabPage.assert_no_page_errors``); teardown closes it and shuts down all kernels.

The same pieces without pytest (``running_lab``, ``chromium_browser``, ``lab_page``) drive
``benchmarks/browser_latency.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = Path(os.environ.get("SYMVIZ_TUTORIALS_DIR", ROOT / "tutorials")).resolve()
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium")
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
SKIP_REASON = (
    "browser tests need Debian's Chromium on PATH and the Python playwright package; enable with "
    "`apt-get install -y chromium` and `pip install -e .[browser]` (never `playwright install`)"
)
BROWSER_READY = CHROMIUM is not None and HAVE_PLAYWRIGHT
# Flags of docs/architecture.md#browser-tests; --headless comes from headless=True and Playwright makes a fresh
# profile dir.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOCAL_HOSTS = {"127.0.0.1"}
SERVER_START_TIMEOUT_S = 120

LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child (Linux): get SIGTERM when pytest dies, even if it is killed before fixture teardown."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group (server + kernels): SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


class LabServer:
    def __init__(self, root: Path, port: int, token: str, proc: subprocess.Popen, log: Path):
        self.root, self.port, self.token, self.proc, self.log = root, port, token, proc, log
        self.base_url = f"http://127.0.0.1:{port}"

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(
            f"{self.base_url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_all_kernels(self) -> None:
        for session in self.api("/api/sessions") or []:
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


# State of the visible notebook: code cells, their prompts, kernel status, error outputs, open dialog.
# A code cell whose source is collapsed (metadata jupyter.source_hidden, e.g. an exercise's solution) shows an
# input placeholder (.jp-InputPlaceholder, with its first source line) instead of its input area, so it has no
# prompt: ``prompts`` holds the prompts of the expanded code cells only, ``code_cells`` counts every code cell
# and ``collapsed`` the collapsed ones.
_STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) {
    return {prompts: [], code_cells: 0, collapsed: 0, status: null, errors: [], problems: [], dialog: null};
  }
  const cells = [...panel.querySelectorAll('.jp-CodeCell')];
  const collapsed = cells.filter((c) => c.querySelector('.jp-InputPlaceholder')).length;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .map((e) => e.textContent.trim());
  const ind = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const stderrSel = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], ' +
    '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]';
  const errors = [...panel.querySelectorAll(stderrSel)].map((e) => e.innerText)
    .filter((t) => /Traceback|Error/.test(t));
  const problems = [...panel.querySelectorAll('.jp-OutputArea-output')].map((e) => e.innerText)
    .filter((t) => /Error displaying widget|3Dmol\\.js failed to load/.test(t));
  const dialog = document.querySelector('.jp-Dialog');
  return {prompts, code_cells: cells.length, collapsed, status: ind ? ind.getAttribute('data-status') : null,
          errors, problems, dialog: dialog ? dialog.innerText : null};
}"""


class LabPage:
    """One notebook opened in JupyterLab, with helpers to run it and inspect what it shows."""

    def __init__(self, page, server: LabServer, external: list[str], artifacts: Path, page_errors=None, console=None):
        self.page, self.server, self.external, self.artifacts = page, server, external, artifacts
        self.page_errors: list[str] = [] if page_errors is None else page_errors  # uncaught exceptions
        self.console: list[str] = [] if console is None else console  # console warnings and errors

    def state(self) -> dict:
        return self.page.evaluate(_STATE_JS)

    def open(self, name: str, timeout_s: float = 180) -> None:
        """Open ``name`` (relative to the server root); wait until all its cells are shown, kernel idle.

        Shown means: as many code cells as the file has, and a prompt on each of them except the collapsed ones
        (``metadata.jupyter.source_hidden``), which show a placeholder instead of their input and prompt.
        """
        nb = json.loads((self.server.root / name).read_text(encoding="utf-8"))
        code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        n_code = len(code)
        n_hidden = sum(bool(c.get("metadata", {}).get("jupyter", {}).get("source_hidden")) for c in code)
        # A fresh workspace per page: Lab would otherwise restore the tabs (and kernels) of earlier tests.
        workspace = f"t{secrets.token_hex(6)}"
        self.page.goto(
            f"{self.server.base_url}/lab/workspaces/{workspace}/tree/{quote(name)}?reset&token={self.server.token}"
        )
        self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.wait_for(state="visible")
        deadline, settled = time.monotonic() + timeout_s, 0
        while True:
            st = self.state()
            if st["dialog"] and "Select Kernel" in st["dialog"]:  # notebook without a kernelspec
                self.page.locator(".jp-Dialog .jp-mod-accept").first.click()
            ready = (
                st["status"] == "idle"
                and st["code_cells"] == n_code
                and st["collapsed"] == n_hidden
                and len(st["prompts"]) == n_code - n_hidden
            )
            settled = settled + 1 if ready else 0
            if settled >= 3:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{name}: kernel not idle or not all {n_code} code cells ({n_hidden} of them collapsed) shown "
                    f"after {timeout_s} s: {st}\n{self._log()}"
                )
            time.sleep(0.5)

    def _click_run_all(self) -> None:
        self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click(position={"x": 5, "y": 5})
        self.page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
        item = self.page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel:text-is('Run All Cells')")
        item.wait_for(state="visible", timeout=15_000)
        self.page.wait_for_timeout(300)
        item.click()

    def run_all(self, timeout_s: float) -> dict:
        """Run > Run All Cells, then wait until every code cell ran (or one failed) and the kernel is idle."""
        for _ in range(3):  # the menu click can be lost while Lab is still settling: retry
            self._click_run_all()
            started = time.monotonic() + 15
            while time.monotonic() < started:
                if any(p.strip() != "[ ]:" for p in self.state()["prompts"]):
                    break
                time.sleep(0.5)
            else:
                self.page.keyboard.press("Escape")
                continue
            break
        else:
            raise AssertionError(f"Run > Run All Cells started nothing (3 tries): {self.state()}\n{self._log()}")
        deadline, settled = time.monotonic() + timeout_s, 0
        while True:
            time.sleep(1.0)
            st = self.state()
            if st["dialog"]:
                raise AssertionError(f"dialog while running: {st['dialog']!r}\n{self._log()}")
            running = any("*" in p for p in st["prompts"])
            done = all(p.strip("[]: ").isdigit() for p in st["prompts"]) or st["errors"]
            settled = settled + 1 if (st["status"] == "idle" and not running and done) else 0
            if settled >= 2:  # idle on two polls in a row: not a gap between two cells
                return st
            if time.monotonic() > deadline:
                raise AssertionError(f"run-all did not finish in {timeout_s} s; state: {st}\n{self._log()}")

    def screenshot(self, name: str) -> Path:
        """Full-notebook screenshot: grow the viewport to the notebook's height, shoot, restore."""
        path = self.artifacts / f"{name}.png"
        size = self.page.viewport_size
        height = self.page.evaluate(
            """() => { const s = document.querySelector(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
               return s ? s.scrollHeight + (window.innerHeight - s.clientHeight) + 40 : 0; }"""
        )
        self.page.set_viewport_size({"width": size["width"], "height": int(min(max(height, 800), 16000))})
        self.page.evaluate(
            """() => { const s = document.querySelector(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer'); if (s) { s.scrollTop = 0; } }"""
        )
        self.page.wait_for_timeout(1000)
        self.page.screenshot(path=str(path), full_page=True)
        self.page.set_viewport_size(size)
        return path

    def assert_no_external_requests(self) -> None:
        assert not self.external, "requests left 127.0.0.1 (vendor the JS instead):\n" + "\n".join(self.external)

    def assert_no_page_errors(self) -> None:
        """No uncaught exception in the page (Playwright's ``pageerror``) and no WebGL context warning."""
        assert not self.page_errors, "uncaught errors in the page:\n" + "\n-----\n".join(self.page_errors)
        webgl = [m for m in self.console if "WebGL" in m and ("Too many" in m or "context lost" in m.lower())]
        assert not webgl, "WebGL context warnings (a view creates a new context per update?):\n" + "\n".join(webgl)

    def _log(self) -> str:
        return "---- jupyter lab log (tail) ----\n" + self.server.log_tail(2000)


def _start_server(base: Path, source: Path) -> LabServer:
    """Copy ``source`` (a folder of notebooks) to ``base/tutorials`` and start a private JupyterLab there."""
    root = base / "tutorials"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    if (ROOT / "data").is_dir():
        (base / "data").symlink_to(ROOT / "data", target_is_directory=True)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONHASHSEED="0")
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[var] = str(base / var.lower())
    settings = base / "lab_settings"
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(24)
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    log = base / "jupyter_lab.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    server = LabServer(root, port, token, proc, log)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with code {proc.returncode}:\n{server.log_tail()}")
            try:
                server.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not answer within {SERVER_START_TIMEOUT_S} s:\n{server.log_tail()}"
                    ) from None
                time.sleep(0.5)
    except BaseException:
        _stop(proc)
        raise
    return server


@contextlib.contextmanager
def running_lab(base: Path, source: Path = TUTORIALS):
    """A :class:`LabServer` over a copy of ``source`` in ``base`` (stopped, with its kernels, on exit).
    Used by the fixtures below and by ``benchmarks/browser_latency.py``."""
    server = _start_server(Path(base), Path(source))
    try:
        yield server
    finally:
        _stop(server.proc)


@contextlib.contextmanager
def chromium_browser():
    """Debian's Chromium under Playwright with the flags of docs/architecture.md#browser-tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def lab_page(browser, server: LabServer, artifacts: Path = ARTIFACTS):
    """A :class:`LabPage` on a fresh browser context (1300x2200) in which every request to a host other than
    127.0.0.1 is recorded and aborted, and uncaught page errors and console warnings are recorded."""
    context = browser.new_context(viewport={"width": 1300, "height": 2200})
    context.set_default_timeout(60_000)
    external: list[str] = []
    page_errors: list[str] = []
    console: list[str] = []

    def fence(route):
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            external.append(f"{route.request.method} {url}")
            route.abort()

    context.route("**/*", fence)
    page = context.new_page()
    page.on(
        "websocket",
        lambda ws: None if urlsplit(ws.url).hostname in LOCAL_HOSTS else external.append(f"WS {ws.url}"),
    )
    page.on("pageerror", lambda err: page_errors.append(f"{err.name}: {err.message}\n{err.stack or ''}"[:3000]))
    page.on(
        "console",
        lambda msg: console.append(f"{msg.type}: {msg.text}"[:1000]) if msg.type in ("warning", "error") else None,
    )
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        yield LabPage(page, server, external, artifacts, page_errors, console)
    finally:
        context.close()
        try:
            server.shutdown_all_kernels()
        except OSError:
            pass


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory) -> LabServer:
    if not BROWSER_READY:
        pytest.skip(SKIP_REASON)
    with running_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    if not BROWSER_READY:
        pytest.skip(SKIP_REASON)
    with chromium_browser() as b:
        yield b


@pytest.fixture
def lab(lab_server, browser):
    """A :class:`LabPage` on a fresh, network-fenced browser context (see :func:`lab_page`)."""
    with lab_page(browser, lab_server) as page:
        yield page
