"""Headless system Chromium driven by Playwright for Python: the report tests and the docs'
MLflow UI screenshots (``tools/ui_screenshot.py``). Not product code: it lives outside
``rnnstudy/`` and needs the dev extras (``pip install -e '.[dev]'``).

Playwright launches Debian's ``/usr/bin/chromium`` (``executable_path``); its own browser
downloads (``playwright install``) are never used, so nothing here needs the network.

    with Browser(width=1600, height=1000) as b:
        b.goto("http://127.0.0.1:5000/")
        print(b.eval("document.title"), b.console)   # console: errors and uncaught exceptions
        Path("shot.png").write_bytes(b.screenshot())
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium_path(explicit: str | None = None) -> str:
    """The system Chromium: ``explicit``, ``$CHROMIUM``, or ``chromium`` on PATH."""
    exe = (
        explicit
        or os.environ.get("CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if exe is None:
        raise FileNotFoundError(
            "chromium not found: apt-get install chromium (make test does, as root)"
        )
    return exe


class Browser:
    """One page of headless system Chromium, with its console errors collected in order."""

    def __init__(
        self, width: int = 1600, height: int = 1000, chromium: str | None = None, timeout=60
    ):
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as e:  # an environment set up before playwright joined the extras
            raise ImportError("playwright missing: pip install -e '.[dev]' (make setup)") from e
        exe = chromium_path(chromium)
        self.console: list[str] = []  # console errors and uncaught exceptions, in order
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=exe, args=CHROMIUM_ARGS, headless=True, timeout=timeout * 1000
            )
            self.page = self._browser.new_page(
                viewport={"width": width, "height": height}, device_scale_factor=1
            )
        except BaseException:
            self._pw.stop()
            raise
        self.page.set_default_timeout(timeout * 1000)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda err: self.console.append(f"Uncaught {err}"))

    def _on_console(self, msg: Any) -> None:
        if msg.type == "error":
            url = (msg.location or {}).get("url", "")
            self.console.append(f"{msg.text} {url}".strip())

    def goto(self, url: str, settle: float = 1.0) -> None:
        """Open ``url``, wait until the document is complete, then ``settle`` seconds more."""
        self.page.goto(url, wait_until="load")
        self.wait_for("document.readyState === 'complete'")
        self.sleep(settle)

    def eval(self, js: str) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise)."""
        return self.page.evaluate(js)

    def content(self) -> str:
        """The page's DOM, serialised (what ``chromium --dump-dom`` prints)."""
        return self.page.content()

    def sleep(self, seconds: float) -> None:
        """Wait while still collecting console messages."""
        self.page.wait_for_timeout(seconds * 1000)

    def wait_for(self, js_condition: str, timeout: float = 60) -> None:
        try:
            self.page.wait_for_function(f"() => Boolean({js_condition})", timeout=timeout * 1000)
        except Exception as e:  # playwright's TimeoutError is not the builtin one
            if type(e).__name__ != "TimeoutError":
                raise
            raise TimeoutError(f"waited {timeout:g} s for: {js_condition}") from None

    def center(self, selector: str, text: str | None = None) -> tuple[float, float] | None:
        """Viewport centre of the first visible element matching ``selector`` (and whose
        text is ``text``, when given), or None."""
        js = (
            "((sel, text) => { for (const e of document.querySelectorAll(sel)) {"
            " const r = e.getBoundingClientRect();"
            " if (r.width === 0 || r.height === 0) continue;"
            " if (text !== null && e.innerText.trim() !== text) continue;"
            " return [r.x + r.width / 2, r.y + r.height / 2]; } return null; })"
            f"({json.dumps(selector)}, {json.dumps(text)})"
        )
        xy = self.eval(js)
        return None if xy is None else (float(xy[0]), float(xy[1]))

    def click(self, selector: str, text: str | None = None, timeout: float = 20) -> None:
        """A real mouse click on the element, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        xy = self.center(selector, text)
        while xy is None and time.monotonic() < deadline:
            self.sleep(0.25)
            xy = self.center(selector, text)
        if xy is None:
            raise TimeoutError(f"no visible element {selector!r} with text {text!r}")
        self.page.mouse.click(*xy)

    def type(self, text: str) -> None:
        """Type ``text`` into the focused element."""
        self.page.keyboard.insert_text(text)

    def press(self, key: str) -> None:
        """Press and release one key (``"Escape"``, ``"Enter"``, …)."""
        self.page.keyboard.press(key)

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return self.page.screenshot(type="png")

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._pw.stop()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
