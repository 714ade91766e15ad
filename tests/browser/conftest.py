"""Real-browser tests: headless Chromium (Debian's ``chromium`` and ``chromium-driver``)
driven by Selenium against a running demo (``scripts/demo.py``: both sandboxes and
``airflow standalone`` after one sync).

Chromium is installed here when it is missing and this process may run ``apt-get`` (root);
a test skips, with the reason, only where it cannot be installed. Screenshots go to
``$CARTUM_ROAPP_ARTIFACTS`` (default ``build/test-artifacts/`` in the checkout).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CARTUM_ROAPP_ARTIFACTS", ROOT / "build" / "test-artifacts"))
DEMO_READY = "Press Ctrl+C to stop."


def _binaries() -> tuple[str | None, str | None]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    return browser, driver


def _install_chromium() -> str:
    """Installs Debian's chromium and chromium-driver; returns why it could not, or ''."""
    if not shutil.which("apt-get"):
        return "apt-get is not available on this machine"
    if os.geteuid() != 0:
        return "installing chromium needs root (apt-get install chromium chromium-driver)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {(done.stderr or done.stdout)[-500:]}"
    return ""


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """(browser path, driver path); installs them if needed, else skips with the reason."""
    browser, driver = _binaries()
    if not (browser and driver):
        problem = _install_chromium()
        browser, driver = _binaries()
        if not (browser and driver):
            pytest.skip(f"headless Chromium cannot be installed here: {problem or 'binaries not found after install'}")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningDemo:
    """The demo after its first sync, still running: Airflow at ``url``, admin login."""
    url: str
    username: str
    password: str
    workdir: Path
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    @property
    def state_db(self) -> Path:
        return self.workdir / "cartum_roapp_state.db"

    @property
    def airflow_home(self) -> Path:
        return self.workdir / "airflow"

    def text(self) -> str:
        return "".join(self.output)

    def sandbox_url(self, system: str) -> str:
        """The base URL of the ``cartum`` or ``roapp`` sandbox, from the demo's report."""
        line = [line for line in self.output if line.startswith("Sandbox admin APIs: ")][-1]
        urls = [word[:-len("/_sandbox/state")] for word in line.split() if word.endswith("/_sandbox/state")]
        return urls[0 if system == "cartum" else 1]

    def api(self):
        """A requests session logged into Airflow's REST API as the demo's admin."""
        import requests

        session = requests.Session()
        token = session.post(f"{self.url}/auth/token", json={"username": self.username, "password": self.password},
                             timeout=30)
        token.raise_for_status()
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        return session


@pytest.fixture(scope="package")
def running_demo(tmp_path_factory) -> RunningDemo:
    """Starts ``scripts/demo.py`` (small data, RO App's limit raised) and waits for its
    first sync's report; stops it (Ctrl+C) after the last browser test, so its Airflow
    does not go on running (and syncing every 5 minutes) beside the rest of the suite."""
    workdir = tmp_path_factory.mktemp("browser_demo")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--orders", "40", "--products", "20", "--customers", "15",
         "--roapp-rate", "20", "--airflow-port", str(port), "--workdir", str(workdir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
        start_new_session=True)
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            output.append(line)
            if DEMO_READY in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 900
    while not ready.wait(5):
        if time.monotonic() > deadline:
            break
    try:
        if process.poll() is not None or DEMO_READY not in "".join(output):
            raise AssertionError("the demo did not reach its report:\n" + "".join(output)[-4000:])
        password = [line for line in output if "login: admin / " in line][-1].split("login: admin / ")[1].split()[0]
        demo = RunningDemo(url=f"http://127.0.0.1:{port}", username="admin", password=password, workdir=workdir,
                           process=process, output=output)
        yield demo
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


class Browser:
    """A headless Chromium window with screenshots saved as test artefacts."""

    def __init__(self, driver, name: str):
        self.driver = driver
        self.name = name
        self.shots: list[Path] = []

    def screenshot(self, what: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{what}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path

    def wait_for(self, condition, timeout: float = 30, what: str = "the page"):
        from selenium.webdriver.support.ui import WebDriverWait
        try:
            return WebDriverWait(self.driver, timeout).until(condition)
        except Exception as error:
            self.screenshot("timeout")
            raise AssertionError(f"waiting for {what}: {type(error).__name__}; page: "
                                 f"{self.driver.current_url}\n{self.driver.find_element('tag name', 'body').text[:2000]}")

    def login_airflow(self, demo: RunningDemo) -> None:
        """Logs into Airflow's UI (the simple auth manager's login form)."""
        from selenium.webdriver.common.by import By
        self.driver.get(f"{demo.url}/")
        user = self.wait_for(lambda d: (d.find_elements(By.NAME, "username") or [None])[0], 60, "the login form")
        user.send_keys(demo.username)
        self.driver.find_element(By.NAME, "password").send_keys(demo.password)
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait_for(lambda d: not d.find_elements(By.NAME, "password"), 60, "the login to finish")


@pytest.fixture
def browser(chromium, request) -> Browser:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    # No background traffic: this machine's network is closed, and Chromium's own calls home
    # (updates, sync, QUIC) would only fail, many at a time. A fresh profile per window.
    profile = tempfile.mkdtemp(prefix="cartum_roapp_chromium_")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    window = Browser(driver, request.node.name.replace("/", "_").replace("[", "_").replace("]", ""))
    try:
        yield window
    finally:
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            window.screenshot("failed")
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
