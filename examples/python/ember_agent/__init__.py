"""A CPU profiler for Python programs that pushes to Ember.

Standard library only (Python 3.9 or later). Two calls are enough::

    import ember_agent

    ember_agent.configure(
        app_name="ride-sharing-app",
        server_address="http://127.0.0.1:4040",
        tags={"region": "eu-north"},
    )

    with ember_agent.tag_wrapper({"vehicle": "car"}):
        order_car()

``configure`` starts two daemon threads: a sampler that reads every
thread's Python stack 100 times a second, and a pusher that sends the
samples to Ember's ``/ingest`` every 10 seconds as the series
``<app_name>.cpu{tags}``. ``shutdown()`` (also run at exit) sends what is
left. See README.md next to this package for the details: frame names,
how CPU time is measured, what happens when the server is down.
"""

from __future__ import annotations

import atexit
import logging
import threading

from . import _tags
from ._push import Pusher
from ._sampler import Sampler, Window
from ._tags import current_tags, tag_wrapper

__all__ = ["configure", "shutdown", "stats", "tag_wrapper", "current_tags",
           "Agent", "__version__"]
__version__ = "0.1.0"

log = logging.getLogger("ember_agent")


class Agent:
    """One profiler: a sampler and a pusher. Most programs use the
    module-level ``configure()``, which keeps one Agent for the process."""

    def __init__(self, app_name: str, server_address: str = "http://127.0.0.1:4040",
                 tags=None, sample_rate: int = 100, auth_token=None,
                 upload_interval: int = 10, spy_name: str = "emberpy",
                 timeout: float = 5.0, max_retries: int = 3, backoff: float = 0.5,
                 max_backoff: float = 10.0, max_queued_windows: int = 6,
                 cpu_time: bool = True, max_depth: int = 512, compress: bool = True,
                 logger=None):
        _tags.check_app_name(app_name)
        if not isinstance(sample_rate, int) or not 1 <= sample_rate <= 1000:
            raise ValueError("sample_rate must be a whole number of samples "
                             "per second from 1 to 1000, got %r" % (sample_rate,))
        if int(upload_interval) != upload_interval or not 1 <= upload_interval <= 3600:
            raise ValueError("upload_interval must be whole seconds from 1 to "
                             "3600, got %r" % (upload_interval,))
        if "://" not in server_address:
            server_address = "http://" + server_address
        self.app_name = app_name
        self.server_address = server_address.rstrip("/")
        self.static_tags = _tags.normalize(tags)
        self.log = logger or log
        self.pusher = Pusher(self.server_address, app_name, self.static_tags,
                             sample_rate, spy_name, auth_token, self.log,
                             timeout=timeout, max_retries=max_retries,
                             backoff=backoff, max_backoff=max_backoff,
                             max_queued_windows=max_queued_windows,
                             compress=compress)
        self.sampler = Sampler(sample_rate, int(upload_interval), self.pusher.submit,
                               self.log, cpu_time=cpu_time, max_depth=max_depth)
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()

    def start(self) -> "Agent":
        with self._lock:
            if self._started:
                return self
            self._started = True
            self.pusher.start()
            self.sampler.exclude.add(self.pusher.ident())
            self.sampler.start()
        return self

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stops sampling and sends what is left, waiting at most
        ``timeout`` seconds for the server. Safe to call twice."""
        with self._lock:
            if not self._started or self._stopped:
                return
            self._stopped = True
        self.sampler.stop(timeout=min(2.0, timeout))
        self.pusher.close(timeout)

    def stats(self) -> dict:
        """Counters: samples taken, pushes sent and dropped, retries, the
        last error. Never raises."""
        out = dict(self.sampler.stats)
        out.update(self.pusher.stats)
        out["cpu_time"] = self.sampler.cpu_time
        return out


_agent = None
_agent_lock = threading.Lock()
_atexit_registered = False


def configure(app_name: str, server_address: str = "http://127.0.0.1:4040",
              tags=None, sample_rate: int = 100, auth_token=None, **options) -> Agent:
    """Starts profiling this process and pushing to ``server_address``.

    ``tags`` are added to every sample (e.g. ``{"region": "eu-north"}``);
    ``auth_token`` is sent as ``Authorization: Bearer <token>``. Other
    options (see Agent): ``upload_interval`` (10 s), ``spy_name``
    ("emberpy"), ``timeout`` (5 s per request), ``max_retries`` (3),
    ``backoff`` (0.5 s, doubling), ``max_queued_windows`` (6),
    ``cpu_time`` (True: count CPU time on Linux), ``max_depth`` (512),
    ``compress`` (True: gzip bodies), ``logger``.

    Calling it again replaces the running profiler (the old one sends what
    it has first). Raises ValueError for an invalid name, tag key or option:
    those are mistakes to see at start-up, not in production.
    """
    global _agent, _atexit_registered
    agent = Agent(app_name, server_address, tags=tags, sample_rate=sample_rate,
                  auth_token=auth_token, **options)
    with _agent_lock:
        old, _agent = _agent, agent
        if not _atexit_registered:
            atexit.register(_shutdown_at_exit)
            _atexit_registered = True
    if old is not None:
        old.shutdown()
    return agent.start()


def shutdown(timeout: float = 5.0) -> None:
    """Stops the profiler started by configure() and sends what is left."""
    global _agent
    with _agent_lock:
        agent, _agent = _agent, None
    if agent is not None:
        agent.shutdown(timeout)


def stats() -> dict:
    """The running profiler's counters ({} when none runs)."""
    agent = _agent
    return agent.stats() if agent is not None else {}


def _shutdown_at_exit() -> None:
    shutdown(timeout=2.0)
