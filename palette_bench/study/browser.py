"""Headless Chromium for the study page: the end-to-end test and `study screenshot` drive the real page.

It uses Debian's chromium and chromium-driver through Selenium (the `test` extra), never a browser
that a tool downloads: the machines this runs on often have no internet.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)


def _first(paths, name) -> str | None:
    for p in paths:
        if Path(p).is_file():
            return p
    return shutil.which(name)


def missing() -> str | None:
    """Why headless Chromium cannot run here (None when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not _first(CHROMIUM, "chromium"):
        return "Chromium is not installed (Debian: apt-get install chromium chromium-driver)"
    if not _first(CHROMEDRIVER, "chromedriver"):
        return "ChromeDriver is not installed (Debian: apt-get install chromium-driver)"
    return None


@contextmanager
def chromium(width: int = 960, height: int = 600):
    """A Selenium driver of headless Chromium with a fresh profile, closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    why = missing()
    if why:
        raise RuntimeError(why)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    profile = tempfile.mkdtemp(prefix="palette-bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM, "chromium")
    # no sandbox (CI runs as root), and none of Chromium's own network traffic on machines without internet
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=_first(CHROMEDRIVER, "chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(study_dir, port: int | None = None, timeout: float = 120.0):
    """`palette-bench study serve` in a child process on localhost; yields its URL, kills it on exit.

    `timeout` bounds the wait for a server that never answers; the wait ends as soon as it does. The
    command imports the whole CLI (PyTorch among it): a few seconds on an idle machine, tens of
    seconds on one whose cores are busy, so the bound is far above either."""
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "palette_bench.cli", "study", "serve", str(study_dir), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
                    raise RuntimeError(f"study server did not start on port {port}: {out.strip()[-500:]}")
                time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def screenshot(study_dir, out, moment: str = "pair") -> Path:
    """A PNG of the study page while a pair is shown ("pair") or while the question is asked ("question")."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from palette_bench.study.spec import load_study

    study = load_study(study_dir)
    with served(study_dir) as (_, url), chromium() as driver:
        driver.get(url)
        driver.find_element(By.ID, "start").click()
        wait = WebDriverWait(driver, 10 + study.seconds)
        wait.until(EC.visibility_of_element_located((By.ID, "left-img")))
        if moment == "question":
            wait.until(EC.element_to_be_clickable((By.ID, "btn-left")))
        png = driver.get_screenshot_as_png()
    from palette_bench.io import atomic_write_bytes

    atomic_write_bytes(out, png)
    return Path(out)
