#!/usr/bin/env python3
"""The include graph between the folders of src/ must have no cycle.

Every folder of src/ is a module; a file of module A that includes a header
owned by module B makes A depend on B, and so does a public header of A that
includes one of B. A cycle (store -> ingest -> query -> store) means no
module can be understood, tested or replaced without the others, so this
check fails on one and prints it.

Public headers (include/ember/X.h) belong to the module src/X/ when it
exists, else to the one named in OWNERS; a new header that fits neither
fails the check until it is given an owner here.

    check_modules.py [ROOT]      check the tree at ROOT (default: this repo)
    check_modules.py --self-test check that a planted cycle is found
"""
import os
import re
import sys
import tempfile

OWNERS = {
    "profile.h": "profile",  # the profile model: trees, series, profiles
    "tree.h": "profile",
    "series.h": "profile",
    "timeexpr.h": "common",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCE = (".c", ".h", ".cc")


def header_owner(root, modules, inc, here):
    """The module owning the header named by an #include in folder `here`."""
    if inc.startswith("ember/"):
        base = inc[len("ember/"):]
        stem = base[:-2] if base.endswith(".h") else base
        if stem in modules:
            return stem
        if base in OWNERS:
            return OWNERS[base]
        raise SystemExit(f"include/ember/{base}: no owning module; name one in "
                         f"OWNERS in {os.path.relpath(__file__, root)}")
    head = inc.split("/", 1)[0]
    if "/" in inc and head in modules:
        return head
    return here  # a private header beside the file, or one generated for it


def edges(root):
    src = os.path.join(root, "src")
    modules = {d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d))}
    graph = {m: {} for m in modules}

    def scan(path, mod):
        with open(path, encoding="utf-8", errors="replace") as f:
            for inc in INCLUDE.findall(f.read()):
                dep = header_owner(root, modules, inc, mod)
                if dep != mod and dep is not None:
                    graph.setdefault(mod, {}).setdefault(dep, os.path.relpath(path, root))

    for mod in modules:
        for dirpath, _, files in os.walk(os.path.join(src, mod)):
            for name in files:
                if name.endswith(SOURCE):
                    scan(os.path.join(dirpath, name), mod)
    pub = os.path.join(root, "include", "ember")
    for name in sorted(os.listdir(pub)):
        if name.endswith(".h"):
            scan(os.path.join(pub, name), header_owner(root, modules, "ember/" + name, None))
    return graph


def find_cycle(graph):
    """One cycle as a list of modules, or None (iterative DFS, three colours)."""
    colour = {m: 0 for m in graph}
    for start in sorted(graph):
        if colour[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(nxt, 0) == 1:
                return path[path.index(nxt):] + [nxt]
            elif colour.get(nxt, 0) == 0:
                colour[nxt] = 1
                graph.setdefault(nxt, {})
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    return None


def check(root):
    graph = edges(root)
    cycle = find_cycle(graph)
    for mod in sorted(graph):
        print(f"{mod:>8} -> {', '.join(sorted(graph[mod])) or '(nothing)'}")
    if cycle:
        print("FAIL: the modules of src/ include each other in a cycle:")
        for a, b in zip(cycle, cycle[1:]):
            print(f"  {a} -> {b}  (for example {graph[a][b]})")
        return 1
    print(f"OK: {len(graph)} modules, no cycle")
    return 0


def self_test():
    """A planted cycle must be found, and its absence must pass."""
    with tempfile.TemporaryDirectory() as root:
        for d in ("src/a", "src/b", "src/c", "include/ember"):
            os.makedirs(os.path.join(root, d))

        def write(rel, text):
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)

        write("include/ember/a.h", "#pragma once\n")
        write("include/ember/b.h", '#include "ember/a.h"\n')
        write("include/ember/c.h", "#pragma once\n")
        write("src/a/a.c", '#include "ember/c.h"\n#include "a_int.h"\n')
        write("src/b/b.c", '#include "ember/b.h"\n')
        write("src/c/c.c", '#include <stdio.h>\n')
        assert find_cycle(edges(root)) is None, "no cycle yet"
        write("src/c/c.c", '#include "ember/b.h"\n')  # c -> b -> a -> c
        cycle = find_cycle(edges(root))
        assert cycle and cycle[0] == cycle[-1] and len(cycle) == 4, cycle
    print("OK: self-test found the planted cycle")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(check(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..")))
