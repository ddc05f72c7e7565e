"""Tags: validation, series names, and the per-thread tags of tag_wrapper.

The sampler runs in its own thread and cannot read another thread's
``threading.local``, so the tags in effect for each thread live in one
module-level dictionary keyed by thread ident (``_thread_tags``). Only the
owning thread writes its entry; the sampler only reads. Single dictionary
reads and writes are atomic in CPython, so no lock is needed.

Tags are kept as sorted tuples of ``(key, value)`` pairs: hashable (they key
the sample counts) and already in Ember's canonical order.
"""

from __future__ import annotations

import functools
import inspect
import re
import threading

_APP_RE = re.compile(r"[A-Za-z0-9_.-]+\Z")
_KEY_RE = re.compile(r"[A-Za-z0-9_.]+\Z")
# Label values may hold anything but "," "}" and control characters.
_BAD_VALUE_RE = re.compile(r"[,}\x00-\x1f\x7f]")

# thread ident -> tuple of (key, value), the tags added by tag_wrapper.
_thread_tags: dict = {}
# Per thread: the tags to restore when the innermost tag_wrapper exits.
_saved = threading.local()


def check_app_name(app_name) -> str:
    if not isinstance(app_name, str) or not _APP_RE.match(app_name):
        raise ValueError(
            "app_name %r is not valid: use letters, digits, '_', '.' and '-' "
            "only, e.g. 'ride-sharing-app'" % (app_name,))
    return app_name


def check_key(key) -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(
            "tag key %r is not valid: use letters, digits, '_' and '.' only, "
            "e.g. 'region' or 'process.runtime'" % (key,))
    if key == "__name__":
        raise ValueError("tag key '__name__' is reserved for the app name; "
                         "choose another key")
    return key


def clean_value(value) -> str:
    """The value as text Ember accepts: "," "}" and control characters
    become "_" (values often come from data, so they are mended rather
    than refused), surrounding spaces are dropped as Ember would."""
    return _BAD_VALUE_RE.sub("_", str(value)).strip()


def normalize(tags) -> tuple:
    """A mapping of tags as a sorted tuple of (key, value) pairs.

    Raises ValueError for an invalid key: keys are written in code, so a bad
    one is a mistake best reported at once.
    """
    if tags is None:
        return ()
    if not hasattr(tags, "items"):
        raise TypeError("tags must be a mapping such as {'vehicle': 'car'}, "
                        "not %s" % type(tags).__name__)
    return tuple(sorted((check_key(k), clean_value(v)) for k, v in tags.items()))


def merge(base: tuple, extra: tuple) -> tuple:
    """base with extra's pairs added; extra wins on a shared key."""
    if not base:
        return extra
    if not extra:
        return base
    merged = dict(base)
    merged.update(extra)
    return tuple(sorted(merged.items()))


def series_name(app_name: str, tags: tuple) -> str:
    """Ember's series name of the CPU profile: ``app.cpu{k=v,...}``."""
    return "%s.cpu{%s}" % (app_name, ",".join("%s=%s" % kv for kv in tags))


def current_tags() -> dict:
    """The tags tag_wrapper has added for the calling thread."""
    return dict(_thread_tags.get(threading.get_ident(), ()))


def tags_of_thread(ident: int) -> tuple:
    return _thread_tags.get(ident, ())


def snapshot() -> dict:
    """Every thread's tags at once: {thread ident: tags}."""
    return _thread_tags.copy()


class tag_wrapper:
    """Adds tags to the samples of the current thread.

    As a context manager::

        with tag_wrapper({"vehicle": "car"}):
            order_car()

    or as a decorator::

        @tag_wrapper({"vehicle": "car"})
        def order_car(): ...

    Blocks nest (the inner block's tags are added to the outer ones and win
    on a shared key) and the outer tags come back when a block exits, also
    by an exception. Tags follow the thread, so code that switches between
    tasks on one thread (asyncio) must not await inside a block.
    """

    __slots__ = ("_tags",)

    def __init__(self, tags):
        self._tags = normalize(tags)

    def __enter__(self):
        ident = threading.get_ident()
        previous = _thread_tags.get(ident)
        stack = getattr(_saved, "stack", None)
        if stack is None:
            stack = _saved.stack = []
        stack.append(previous)
        _thread_tags[ident] = merge(previous or (), self._tags)
        return self

    def __exit__(self, exc_type, exc, tb):
        ident = threading.get_ident()
        previous = _saved.stack.pop()
        if previous is None:
            _thread_tags.pop(ident, None)
        else:
            _thread_tags[ident] = previous
        return False

    def __call__(self, func):
        if inspect.iscoroutinefunction(func) or inspect.isgeneratorfunction(func) \
                or inspect.isasyncgenfunction(func):
            raise TypeError(
                "tag_wrapper cannot decorate %s: it suspends, and the tags "
                "would leak to whatever runs on the thread meanwhile; use "
                "'with tag_wrapper(...)' around code that does not suspend"
                % getattr(func, "__qualname__", func))
        tags = self._tags

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            ident = threading.get_ident()
            previous = _thread_tags.get(ident)
            _thread_tags[ident] = merge(previous or (), tags)
            try:
                return func(*args, **kwargs)
            finally:
                if previous is None:
                    _thread_tags.pop(ident, None)
                else:
                    _thread_tags[ident] = previous

        return wrapper
