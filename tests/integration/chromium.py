"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
JSON messages ending in NUL on fds 3 and 4, no websocket library needed).

Headless Chromium has no login dialog: on a 401 with a Basic challenge it fails the load
(net::ERR_INVALID_AUTH_CREDENTIALS), so `--screenshot` alone cannot show what a person
sees. Fetch.authRequired lets the test play the person: cancel the dialog (the browser
then shows the 401 page) or type credentials into it.

    with Chromium() as browser:
        shot = browser.open(url, auth=None)                 # cancel the login dialog
        shot = browser.open(url, auth=("user", "password"))  # type them in
        shot.png (bytes), shot.text (document.body.innerText), shot.challenged (bool)
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import signal
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Optional


def binary() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Page:
    png: bytes
    text: str
    challenged: bool  # the server asked for credentials (the login dialog would open)


class Chromium:
    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="clb-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Its ends become fds 3 (commands in) and 4 (answers out); moved above 10 first so
        # that the dup2s cannot overwrite one another. Every other fd of ours is CLOEXEC.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r, from_browser_w)]
        argv = [binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", "--window-size=1280,800", "about:blank"]
        self.pid = os.posix_spawn(argv[0], argv, os.environ, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, ends[0], 3),
            (os.POSIX_SPAWN_DUP2, ends[1], 4),
        ])
        for fd in (to_browser_r, from_browser_w, *ends):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the browser and its helper processes
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    # ---- protocol -----------------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium: no answer on the DevTools pipe")
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                raise RuntimeError("chromium exited")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def post(self, method: str, params: Optional[dict] = None,
             session: Optional[str] = None) -> int:
        """Sends a command without waiting for its answer; returns its id."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def send(self, method: str, params: Optional[dict] = None,
             session: Optional[str] = None) -> dict:
        """Sends a command and waits for its answer; events meanwhile are kept."""
        sent = self.post(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == sent:
                if "error" in reply:
                    raise RuntimeError(f"chromium: {method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:  # an event; answers to posted commands are dropped
                self._events.append(reply)

    def _next_event(self, deadline: float) -> dict:
        if self._events:
            return self._events.pop(0)
        return self._read_message(deadline)

    # ---- a page ---------------------------------------------------------------------------

    def open(self, url: str, auth: Optional[tuple[str, str]]) -> Page:
        """Loads url in a new tab; answers a login dialog with auth, or cancels it."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        self.send("Page.enable", session=session)
        self.send("Fetch.enable", {"handleAuthRequests": True}, session=session)
        # Not waited for: its answer comes once the response starts, after the paused
        # request and the login dialog have been dealt with below.
        self.post("Page.navigate", {"url": url}, session=session)
        challenged = False
        deadline = time.monotonic() + self.timeout
        while True:
            event = self._next_event(deadline)
            if event.get("sessionId") != session or "method" not in event:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Fetch.requestPaused":
                self.post("Fetch.continueRequest", {"requestId": params["requestId"]},
                          session=session)
            elif method == "Fetch.authRequired":
                # Typed in once; asked again (they were wrong), the person gives up.
                answer = ({"response": "ProvideCredentials", "username": auth[0],
                           "password": auth[1]} if auth and not challenged
                          else {"response": "CancelAuth"})
                challenged = True
                self.post("Fetch.continueWithAuth", {"requestId": params["requestId"],
                                                     "authChallengeResponse": answer},
                          session=session)
            elif method == "Page.loadEventFired":
                break
        text = self.send("Runtime.evaluate", {"expression": "document.body.innerText",
                                              "returnByValue": True},
                         session=session)["result"].get("value", "")
        png = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"},
                                         session=session)["data"])
        self.send("Target.closeTarget", {"targetId": target})
        return Page(png, text, challenged)
