"""The pusher thread: sends finished windows to Ember's /ingest.

Each window becomes one POST per tag set, the body in folded text
(``frame;frame;frame count`` per line), gzip-compressed. Failures never
reach the host program:

- a connection error, a timeout, 5xx or 429 is retried after a growing,
  jittered delay (429's ``Retry-After`` is honoured), at most
  ``max_retries`` times; then the push is dropped;
- any other answer (400, 413, 422: the request itself is wrong) is dropped
  at once, since sending it again cannot help;
- windows wait in a bounded queue; when the server is slower than the
  sampler, the oldest waiting window is dropped.

Every drop is counted in ``stats``; the first failure of each kind is
logged, later ones only counted, so a server that is down for an hour
does not fill the host's logs.

Proxies from the environment are not used: the agent talks to the address
it is given.
"""

from __future__ import annotations

import collections
import gzip
import http.client
import json
import logging
import random
import threading
import time
import urllib.parse

from . import _tags
from ._sampler import Window

USER_AGENT = "ember-agent-python/0.1"


class PushError(Exception):
    """A push that did not get a 200."""

    def __init__(self, message: str, status=None, retry_after=None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


def round_counts(stacks: dict) -> dict:
    """Integer counts for ``stacks`` (the sampler already counts whole
    samples; this keeps any fractional input honest by rounding the total
    and giving the remainder to the largest fractions)."""
    floors = {s: int(c) for s, c in stacks.items()}
    short = int(round(sum(stacks.values()))) - sum(floors.values())
    if short > 0:
        by_fraction = sorted(stacks, key=lambda s: stacks[s] - floors[s], reverse=True)
        for s in by_fraction[:short]:
            floors[s] += 1
    return {s: c for s, c in floors.items() if c > 0}


def folded_body(stacks: dict) -> bytes:
    """Folded text for {stack tuple: count}, sorted so equal input gives
    equal bytes."""
    lines = ["%s %d\n" % (";".join(stack), count)
             for stack, count in round_counts(stacks).items()]
    lines.sort()
    return "".join(lines).encode("utf-8", "replace")


class Pusher:
    def __init__(self, server_address: str, app_name: str, static_tags: tuple,
                 sample_rate: int, spy_name: str, auth_token, logger: logging.Logger,
                 timeout: float = 5.0, max_retries: int = 3, backoff: float = 0.5,
                 max_backoff: float = 10.0, max_queued_windows: int = 6,
                 compress: bool = True):
        parts = urllib.parse.urlsplit(server_address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "server_address %r is not valid: give a URL such as "
                "'http://127.0.0.1:4040'" % (server_address,))
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.path = parts.path.rstrip("/") + "/ingest"
        self.app_name = app_name
        self.static_tags = static_tags
        self.sample_rate = sample_rate
        self.spy_name = spy_name
        self.auth_token = auth_token
        self.log = logger
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.compress = compress
        self.stats = {"pushes": 0, "pushes_dropped": 0, "retries": 0,
                      "windows_dropped": 0, "samples_sent": 0,
                      "samples_dropped": 0, "last_error": None}
        self._queue = collections.deque(maxlen=max_queued_windows)
        self._cond = threading.Condition()
        self._closing = False
        self._wake = threading.Event()  # cuts the retry delay under way short on close
        self._deadline = None
        self._thread = None
        self._logged = set()
        self._failing = False

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ember-pusher",
                                        daemon=True)
        self._thread.start()

    def ident(self):
        return self._thread.ident if self._thread is not None else None

    def submit(self, window: Window) -> None:
        """Queues a window; never blocks (called by the sampler thread)."""
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                oldest = self._queue[0]
                self.stats["windows_dropped"] += 1
                self.stats["samples_dropped"] += oldest.total()
                self._log_once("queue", logging.WARNING,
                               "ember_agent: the server is slower than the "
                               "profile comes in; dropping the oldest waiting "
                               "profile (further drops are only counted)")
            self._queue.append(window)
            self._cond.notify()

    def close(self, timeout: float) -> None:
        """Sends what is queued, giving up ``timeout`` seconds from now."""
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + max(0.0, timeout)
            self._cond.notify()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, timeout) + 0.5)

    # -- the loop ----------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                window = self._queue.popleft()
            try:
                self.push_window(window)
            except Exception:  # noqa: BLE001 - the host must never see it
                self._log_once("bug", logging.ERROR,
                               "ember_agent: unexpected error while pushing",
                               exc_info=True)

    def push_window(self, window: Window) -> None:
        for tags, stacks in window.counts.items():
            body = folded_body(stacks)
            if not body:
                continue
            samples = sum(round_counts(stacks).values())
            name = _tags.series_name(self.app_name, _tags.merge(self.static_tags, tags))
            if self._push_with_retries(name, window.start, window.end, body):
                self.stats["pushes"] += 1
                self.stats["samples_sent"] += samples
            else:
                self.stats["pushes_dropped"] += 1
                self.stats["samples_dropped"] += samples

    def _push_with_retries(self, name: str, start: int, end: int, body: bytes) -> bool:
        attempt = 0
        while True:
            try:
                self.post(name, start, end, body)
                if self._failing:
                    self._failing = False
                    self.log.info("ember_agent: pushing to %s works again", self.host)
                return True
            except PushError as e:
                err = e
            self.stats["last_error"] = str(err)
            self._failing = True
            if (not err.retryable or attempt >= self.max_retries
                    or not self._wait_before_retry(self._delay(err, attempt))):
                self._log_once(
                    "drop-%s" % (err.status if not err.retryable else "retry"),
                    logging.WARNING,
                    "ember_agent: dropped a profile for %s: %s%s (further "
                    "failures are only counted: see ember_agent.stats())",
                    name, err,
                    "" if not err.retryable else
                    " after %d retries" % attempt)
                return False
            self.stats["retries"] += 1
            attempt += 1

    def _delay(self, err: PushError, attempt: int) -> float:
        """Seconds to wait before the next try."""
        if err.status == 429 and err.retry_after is not None:
            return min(err.retry_after, self.max_backoff)
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        return delay * random.uniform(0.5, 1.0)  # spread agents restarting together

    def _wait_before_retry(self, delay: float) -> bool:
        """Sleeps ``delay`` seconds; False if close()'s deadline comes first.

        close() wakes this wait only so that the remaining delay is checked
        against its deadline: the retry still keeps its delay, so a closing
        agent never sends a burst of retries."""
        until = time.monotonic() + delay
        while True:
            if self._deadline is not None and until >= self._deadline:
                return False
            remaining = until - time.monotonic()
            if remaining <= 0:
                return True
            self._wake.wait(remaining)
            self._wake.clear()

    # -- one request -------------------------------------------------------

    def query(self, name: str, start: int, end: int) -> str:
        return urllib.parse.urlencode([
            ("name", name), ("from", start), ("until", end), ("format", "folded"),
            ("sampleRate", self.sample_rate), ("spyName", self.spy_name),
            ("units", "samples"), ("aggregationType", "sum")])

    def post(self, name: str, start: int, end: int, body: bytes) -> None:
        """One POST /ingest; raises PushError unless the answer is 200."""
        headers = {"Content-Type": "text/plain; charset=utf-8",
                   "User-Agent": USER_AGENT}
        if self.compress:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        if self.auth_token:
            headers["Authorization"] = "Bearer " + self.auth_token
        timeout = self.timeout
        if self._deadline is not None:
            timeout = max(0.1, min(timeout, self._deadline - time.monotonic()))
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=timeout)
        try:
            conn.request("POST", self.path + "?" + self.query(name, start, end),
                         body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read(4096)
            status = resp.status
            retry_after = _seconds(resp.getheader("Retry-After"))
        except (OSError, http.client.HTTPException) as e:
            raise PushError("cannot reach %s:%s: %s" % (
                self.host, self.port or "", e or type(e).__name__)) from None
        finally:
            conn.close()
        if status != 200:
            raise PushError("server answered %d: %s" % (status, _error_text(text)),
                            status=status, retry_after=retry_after)

    def _log_once(self, kind: str, level: int, msg: str, *args, **kwargs) -> None:
        if kind in self._logged:
            return
        self._logged.add(kind)
        self.log.log(level, msg, *args, **kwargs)


def _seconds(value):
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        msg = json.loads(text).get("error")
        if isinstance(msg, str):
            return msg
    except (ValueError, AttributeError):
        pass
    return text[:200] or "(empty body)"
