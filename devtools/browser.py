"""Headless Chromium for the tests that look at what a person sees (Teams card, status page).

Debian's ``chromium`` (installed by ``make setup``) driven by Playwright for Python, which needs no
browser download when given ``executable_path``. The flags keep Chromium off the network: this
machine's registries are the only hosts it can reach, and background fetches would be refused.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)


def chromium_path() -> str | None:
    """``CHROMIUM`` if set, else Debian's ``/usr/bin/chromium`` (or whatever ``chromium`` is on PATH)."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium() -> Iterator[Browser]:
    """A fresh headless Chromium; open as many pages on it as a test needs (one launch, not one a page)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed: run `make setup` (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(width: int = 1024, height: int = 768) -> Iterator[Page]:
    """One page of a fresh headless Chromium at ``width`` × ``height`` CSS pixels."""
    with chromium() as browser:
        yield browser.new_page(viewport={"width": width, "height": height})


def screenshot_dir() -> Path:
    """Where the browser tests write their screenshots: ``SCREENSHOTS_DIR`` when set (``make
    screenshots`` sets it to ``docs/img`` to refresh the committed pictures), else a fresh temporary
    folder — a test run leaves the working tree as it found it."""
    import tempfile

    configured = os.environ.get("SCREENSHOTS_DIR")
    folder = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
