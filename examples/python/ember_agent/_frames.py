"""Names Python frames and folds a thread's stack into a tuple of names.

A frame is named

    module:function (file:line)

for example ``rideshare.server:order_car (server.py:58)``:

- ``module`` is the module's ``__name__``; for the script run as ``__main__``
  it is the module name it was started as (``python -m pkg.mod``) or the
  script's file name without ``.py``, so a flame graph never shows a
  meaningless ``__main__``.
- ``function`` is the qualified name on Python 3.11 and later
  (``Handler.do_GET``), the plain name before.
- ``file`` is the path relative to the ``sys.path`` entry it was imported
  from (``http/server.py``), or the base name when it is under none.
- ``line`` is the line the function is *defined* on, not the line running,
  so one function is one frame however many of its lines are sampled, and
  the same function gets the same name in every push.

Names are computed once per code object and cached, which keeps sampling
cheap: walking a stack is then one dictionary lookup per frame.
"""

from __future__ import annotations

import os
import sys

# Characters that would break the folded format (";" separates frames, a
# line ends a stack) are replaced in names.
_UNSAFE = str.maketrans({";": "_", "\n": "_", "\r": "_"})

TRUNCATED = "[truncated]"


def short_path(filename: str) -> str:
    """The file name relative to the sys.path entry holding it."""
    if not filename or filename.startswith("<"):
        return filename or "?"  # "<string>", "<frozen importlib._bootstrap>"
    path = os.path.abspath(filename)
    best = ""
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        root = os.path.join(os.path.abspath(entry or os.curdir), "")
        if path.startswith(root) and len(root) > len(best):
            best = root
    return path[len(best):] if best else os.path.basename(path)


def module_name(code, f_globals) -> str:
    name = f_globals.get("__name__") if f_globals is not None else None
    if not isinstance(name, str) or not name:
        return "?"
    if name != "__main__":
        return name
    spec = f_globals.get("__spec__")
    spec_name = getattr(spec, "name", None)
    if isinstance(spec_name, str) and spec_name and spec_name != "__main__":
        return spec_name
    base = os.path.basename(code.co_filename or "")
    stem, _ = os.path.splitext(base)
    return stem or name


def frame_name(code, f_globals) -> str:
    """The display name of a frame running ``code`` (see the module doc)."""
    func = getattr(code, "co_qualname", None) or code.co_name
    name = "%s:%s (%s:%d)" % (module_name(code, f_globals), func,
                              short_path(code.co_filename), code.co_firstlineno)
    return name.translate(_UNSAFE)


def is_own(f_globals) -> bool:
    """True for the agent's own code (tag_wrapper's enter and exit), which
    is left out of stacks: it is not the host's work."""
    name = f_globals.get("__name__") if f_globals is not None else None
    return isinstance(name, str) and (name == "ember_agent" or name.startswith("ember_agent."))


class Folder:
    """Turns frames into tuples of frame names, root first.

    The cache is keyed by ``id(code)`` and holds the code object itself, so
    an id cannot be reused by another code object while its entry lives.
    It is emptied when it reaches ``max_cache`` entries, which bounds the
    memory it keeps alive in programs that create code at run time.
    """

    def __init__(self, max_depth: int = 512, max_cache: int = 20000):
        if max_depth < 2:
            raise ValueError("max_depth must be at least 2")
        self.max_depth = max_depth
        self.max_cache = max_cache
        self._cache: dict = {}

    def name(self, code, f_globals):
        """The frame's name, or None for the agent's own frames."""
        entry = self._cache.get(id(code))
        if entry is not None and entry[0] is code:
            return entry[1]
        name = None if is_own(f_globals) else frame_name(code, f_globals)
        if len(self._cache) >= self.max_cache:
            self._cache.clear()
        self._cache[id(code)] = (code, name)
        return name

    def fold(self, frame) -> tuple:
        """The stack ending at ``frame``, root first.

        A stack deeper than ``max_depth`` keeps its root-most frames and
        ends with ``[truncated]``, so deep recursion stays one bounded path.
        """
        cache_get = self._cache.get
        names = []
        append = names.append
        f = frame
        while f is not None:
            code = f.f_code
            entry = cache_get(id(code))
            name = entry[1] if entry is not None and entry[0] is code \
                else self.name(code, f.f_globals)
            if name is not None:
                append(name)
            f = f.f_back
        names.reverse()
        if len(names) > self.max_depth:
            del names[self.max_depth - 1:]
            names.append(TRUNCATED)
        return tuple(names)

    def cache_size(self) -> int:
        return len(self._cache)
