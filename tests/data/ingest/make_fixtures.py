#!/usr/bin/env python3
"""Writes the ingest fixtures next to this script: one realistic profile in
folded, tree and trie encodings plus the canonical stacks they all must
decode to, and a smaller body in the lines format. Deterministic: running it
again gives the same bytes. Only needed when the fixtures should change."""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

ROOTS = ["runtime.goexit", "main", "[unknown]", "java.lang.Thread.run"]
CALLEES = [
    "net/http.(*conn).serve", "net/http.serverHandler.ServeHTTP",
    "github.com/acme/shop/api.(*Server).Checkout", "encoding/json.Marshal",
    "encoding/json.(*encodeState).marshal", "runtime.mallocgc", "runtime.memmove",
    "syscall.Syscall", "os.(*File).Write", "compress/gzip.(*Writer).Write",
    "database/sql.(*DB).QueryContext", "github.com/lib/pq.(*conn).query",
    "std::vector<int>::push_back(int const&)", "std::__1::basic_string<char>::append",
    "java.util.HashMap.get (inlined)", "java.util.concurrent.ThreadPoolExecutor.runWorker",
    "org.eclipse.jetty.server.HttpChannel.handle", "com.acme.orders.Service.place",
    "libc.so.6 memcpy", "[kernel.kallsyms] do_syscall_64", "café.render",
    "python3.11 _PyEval_EvalFrameDefault", "app.py:42 handle_request",
    "sqlalchemy/orm/query.py:2773 all", "regex: (a|b)*;not-a-frame-separator?",
]


def make_stacks(rng):
    """~400 folded lines, some repeated so the decoder has to sum them."""
    lines = []
    for _ in range(380):
        depth = rng.randint(1, 24)
        frames = [rng.choice(ROOTS)]
        for d in range(depth):
            # A narrow choice near the root makes prefixes shared, as in real
            # profiles; deeper frames vary more.
            width = min(len(CALLEES), 3 + 2 * d)
            frames.append(CALLEES[rng.randrange(width)].replace(";", ","))
        lines.append((";".join(frames), rng.randint(1, 500)))
    for i in range(0, 380, 19):  # duplicates with other counts
        lines.append((lines[i][0], rng.randint(1, 50)))
    rng.shuffle(lines)
    return lines


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def node(name, value, nchildren):
    name = name.encode()
    return uvarint(len(name)) + name + uvarint(value) + uvarint(nchildren)


def encode_tree(stacks):
    """Pre-order, root first; children in sorted order."""
    root = {"self": 0, "kids": {}}
    for stack, v in stacks.items():
        n = root
        for f in stack.split(";"):
            n = n["kids"].setdefault(f, {"self": 0, "kids": {}})
        n["self"] += v
    out = bytearray()
    todo = [("total", root)]
    while todo:
        name, n = todo.pop()
        out += node(name, n["self"], len(n["kids"]))
        todo.extend(reversed(sorted(n["kids"].items())))
    return bytes(out)


def encode_trie(stacks):
    """A radix trie over the stack strings: edges split at the longest common
    prefix, wherever it falls (often inside a frame name)."""
    root = {"frag": "", "value": 0, "kids": []}
    for key, v in sorted(stacks.items()):
        n, rest = root, key
        while True:
            for k in n["kids"]:
                common = os.path.commonprefix([k["frag"], rest])
                if common:
                    break
            else:
                n["kids"].append({"frag": rest, "value": v, "kids": []})
                break
            if common != k["frag"]:  # split the edge
                tail = {"frag": k["frag"][len(common):], "value": k["value"],
                        "kids": k["kids"]}
                k.update(frag=common, value=0, kids=[tail])
            rest = rest[len(common):]
            n = k
            if not rest:
                n["value"] += v
                break
    out = bytearray()
    todo = [root]
    while todo:
        n = todo.pop()
        out += node(n["frag"], n["value"], len(n["kids"]))
        todo.extend(reversed(n["kids"]))
    return bytes(out)


def expected(stacks):
    return "".join(f"{s} {v}\n" for s, v in sorted(stacks.items()) if v)


def write(name, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(HERE, name), mode, newline="" if mode == "w" else None) as f:
        f.write(data)


def main():
    rng = random.Random(20240501)
    lines = make_stacks(rng)
    write("profile.folded", "".join(f"{s} {v}\n" for s, v in lines))
    summed = {}
    for s, v in lines:
        summed[s] = summed.get(s, 0) + v
    write("profile.expected", expected(summed))
    write("profile.tree", encode_tree(summed))
    write("profile.trie", encode_trie(summed))

    # The lines format: each line one sample, so fewer and shorter stacks.
    samples = []
    for s, _ in lines[:120]:
        samples += [";".join(s.split(";")[:6])] * rng.randint(1, 4)
    rng.shuffle(samples)
    write("profile.lines", "".join(s + "\n" for s in samples))
    counted = {}
    for s in samples:
        counted[s] = counted.get(s, 0) + 1
    write("profile.lines.expected", expected(counted))


if __name__ == "__main__":
    main()
