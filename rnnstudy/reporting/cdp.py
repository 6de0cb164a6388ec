"""Drive headless Chromium through the DevTools protocol (stdlib only: a minimal WebSocket).

Used to take the MLflow UI screenshots in ``docs/`` (``rnnstudy.reporting.ui_screenshot``) and
to read a page's console errors in the report tests. Only what those need: open a page,
evaluate JavaScript, collect console/exception messages, capture a PNG.

    with Browser(width=1600, height=1000) as b:
        b.goto("http://127.0.0.1:5000/")
        print(b.eval("document.title"))
        Path("shot.png").write_bytes(b.screenshot())
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

CHROMIUM_FLAGS = [
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebSocket:
    """A client WebSocket (RFC 6455) for text frames on 127.0.0.1: enough for DevTools."""

    def __init__(self, url: str, timeout: float = 60):
        assert url.startswith("ws://")
        hostport, path = url[5:].split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))

    def send(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + masked)

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            buf += chunk
        return buf

    def recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):  # ping / pong: not sent by DevTools in practice
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


class Browser:
    """Headless Chromium with one page, driven over DevTools."""

    def __init__(self, width: int = 1600, height: int = 1000, chromium: str | None = None):
        exe = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            raise FileNotFoundError("chromium not found (Debian: apt-get install chromium)")
        self.profile = tempfile.TemporaryDirectory()
        port = free_port()
        self.proc = subprocess.Popen(
            [
                exe,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile.name}",
                f"--remote-debugging-port={port}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.ws = WebSocket(self._page_url(port))
        self._id = 0
        self.console: list[str] = []  # console errors and uncaught exceptions, in order
        self.call("Runtime.enable")
        self.call("Log.enable")
        self.call("Page.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def _page_url(self, port: int) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.proc.returncode}")
            time.sleep(0.2)
        raise TimeoutError("chromium's DevTools did not come up in 60 s")

    def _note(self, msg: dict) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.console.append("Uncaught " + str(d.get("exception", {}).get("description", d)))
        elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.console.append(" ".join(str(a.get("value", a)) for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.console.append(f"{e.get('source')}: {e.get('text')} {e.get('url', '')}".strip())

    def call(self, method: str, params: dict | None = None) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._note(msg)

    def eval(self, js: str) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise)."""
        res = self.call(
            "Runtime.evaluate", {"expression": js, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"JavaScript error: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")

    def goto(self, url: str, settle: float = 1.0) -> None:
        """Open ``url`` and wait until the document is complete, then ``settle`` seconds more."""
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")
        self.sleep(settle)

    def sleep(self, seconds: float) -> None:
        """Wait while still collecting console messages."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.eval("1")
            time.sleep(0.1)

    def wait_for(self, js_condition: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.eval(f"Boolean({js_condition})"):
                return
            time.sleep(0.2)
        raise TimeoutError(f"waited {timeout:g} s for: {js_condition}")

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
        """A real mouse click (press + release) on the element, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        xy = self.center(selector, text)
        while xy is None and time.monotonic() < deadline:
            time.sleep(0.25)
            xy = self.center(selector, text)
        if xy is None:
            raise TimeoutError(f"no visible element {selector!r} with text {text!r}")
        x, y = xy
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def type(self, text: str) -> None:
        """Type ``text`` into the focused element."""
        self.call("Input.insertText", {"text": text})

    def screenshot(self) -> bytes:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
