#!/usr/bin/env python3
"""Writes the JFR fixtures next to this script, and what Ember must make of
each ("app{labels} frame;...;leaf value" lines, sorted, as the .expected
files of the other formats hold).

  jdk17_hot.jfr.gz      a recording of examples/java/HotMethods.java by the
                        JDK's own recorder (execution samples, allocations in
                        and outside TLABs, allocation samples, monitor waits)
  jdk17_hot.expected    its stacks as the JDK's reader (`jfr print --json`)
                        sees them, independent of Ember's reader
  asprof.jfr            two chunks written the way async-profiler writes
                        them, with contextId fields, every string encoding,
                        native frames, an event type Ember does not read and
                        one the metadata does not declare
  asprof.labels         its labels part (a LabelsSnapshot protobuf)
  asprof.expected       what Ember makes of the two, event=cpu
  asprof_wall.expected  the same with event=wall
  uncompressed.jfr      the same recording with integers not compressed
  ../../fuzz/corpus/jfr/  seeds for tests/fuzz/fuzz_jfr.c

The synthetic recordings come from the model below, so their .expected
files are the model's, not Ember's. The JDK capture needs java and jfr
(scripts/deps.sh --test); run the script again only when the fixtures
should change (`--synthetic` leaves the JDK capture alone).
"""
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "jfr")

# ---- Encoding ----------------------------------------------------------------


def varint(v):
    """A JFR compressed integer: 7 bits a byte, low first; a ninth byte holds
    the top 8 bits whole."""
    v &= (1 << 64) - 1
    out = bytearray()
    for _ in range(8):
        if v < 0x80:
            out.append(v)
            return bytes(out)
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v & 0xFF)
    return bytes(out)


class Out:
    """Values as one chunk encodes them."""

    def __init__(self, compressed):
        self.c = compressed
        self.b = bytearray()

    def raw(self, data):
        self.b += data
        return self

    def u8(self, v):
        self.b.append(v & 0xFF)
        return self

    def long(self, v):
        self.b += varint(v) if self.c else struct.pack(">Q", v & (1 << 64) - 1)
        return self

    def int(self, v):
        self.b += varint(v & 0xFFFFFFFF) if self.c else struct.pack(">I", v & 0xFFFFFFFF)
        return self

    def short(self, v):
        self.b += varint(v & 0xFFFF) if self.c else struct.pack(">H", v & 0xFFFF)
        return self

    def string(self, s, enc="utf8"):
        """enc: utf8, latin1, utf16, pool (s is the key), null, empty."""
        if enc == "null":
            return self.u8(0)
        if enc == "empty":
            return self.u8(1)
        if enc == "pool":
            return self.u8(2).long(s)
        if enc == "utf8":
            data = s.encode("utf-8")
            return self.u8(3).int(len(data)).raw(data)
        if enc == "latin1":
            data = s.encode("latin-1")
            return self.u8(5).int(len(data)).raw(data)
        units = s.encode("utf-16-be")
        self.u8(4).int(len(units) // 2)
        for i in range(0, len(units), 2):
            self.short(units[i] << 8 | units[i + 1])
        return self


def event(compressed, type_id, body, padded=False):
    """size, type, fields; the size counts itself."""
    head = Out(compressed).long(type_id).b + body
    if not compressed:
        return struct.pack(">I", 4 + len(head)) + head
    if padded:  # async-profiler patches sizes in: always five bytes
        n = 5 + len(head)
        size = bytes([(n & 0x7F) | 0x80, (n >> 7 & 0x7F) | 0x80, (n >> 14 & 0x7F) | 0x80,
                      (n >> 21 & 0x7F) | 0x80, n >> 28 & 0x7F])
        return size + head
    n = len(head) + 1
    while len(varint(n)) + len(head) != n:
        n = len(varint(n)) + len(head)
    return varint(n) + head


# ---- Metadata -------------------------------------------------------------------

PRIMITIVES = ["boolean", "byte", "char", "short", "int", "long", "float", "double",
              "java.lang.String"]


def classes(base):
    """The classes of one chunk, ids from base: name -> (id, fields), a field
    being (name, type, flags) with flags a set of 'cp' and 'array'."""
    defs = [
        ("java.lang.Thread", [("osName", "java.lang.String", ""), ("osThreadId", "long", ""),
                              ("javaName", "java.lang.String", ""),
                              ("javaThreadId", "long", "")]),
        ("jdk.types.Symbol", [("string", "java.lang.String", "")]),
        ("jdk.types.Package", [("name", "jdk.types.Symbol", "cp")]),
        ("java.lang.Class", [("classLoader", "jdk.types.ClassLoader", "cp"),
                             ("name", "jdk.types.Symbol", "cp"),
                             ("package", "jdk.types.Package", "cp"),
                             ("modifiers", "int", "")]),
        ("jdk.types.ClassLoader", [("type", "java.lang.Class", "cp"),
                                   ("name", "jdk.types.Symbol", "cp")]),
        ("jdk.types.Method", [("type", "java.lang.Class", "cp"),
                              ("name", "jdk.types.Symbol", "cp"),
                              ("descriptor", "jdk.types.Symbol", "cp"),
                              ("modifiers", "int", ""), ("hidden", "boolean", "")]),
        ("jdk.types.FrameType", [("description", "java.lang.String", "")]),
        ("jdk.types.StackFrame", [("method", "jdk.types.Method", "cp"),
                                  ("lineNumber", "int", ""), ("bytecodeIndex", "int", ""),
                                  ("type", "jdk.types.FrameType", "cp")]),
        ("jdk.types.StackTrace", [("truncated", "boolean", ""),
                                  ("frames", "jdk.types.StackFrame", "array")]),
        ("jdk.types.ThreadState", [("name", "java.lang.String", "")]),
        ("demo.Pair", [("a", "int", ""), ("b", "java.lang.String", ""),
                       ("c", "char", ""), ("d", "short", "")]),
        ("jdk.ExecutionSample", [("startTime", "long", ""),
                                 ("sampledThread", "java.lang.Thread", "cp"),
                                 ("stackTrace", "jdk.types.StackTrace", "cp"),
                                 ("state", "jdk.types.ThreadState", "cp"),
                                 ("contextId", "long", "")]),
        ("jdk.ObjectAllocationInNewTLAB", [("startTime", "long", ""),
                                           ("eventThread", "java.lang.Thread", "cp"),
                                           ("stackTrace", "jdk.types.StackTrace", "cp"),
                                           ("objectClass", "java.lang.Class", "cp"),
                                           ("allocationSize", "long", ""),
                                           ("tlabSize", "long", ""),
                                           ("contextId", "long", "")]),
        ("jdk.ObjectAllocationOutsideTLAB", [("startTime", "long", ""),
                                             ("eventThread", "java.lang.Thread", "cp"),
                                             ("stackTrace", "jdk.types.StackTrace", "cp"),
                                             ("objectClass", "java.lang.Class", "cp"),
                                             ("allocationSize", "long", ""),
                                             ("contextId", "long", "")]),
        ("jdk.JavaMonitorEnter", [("startTime", "long", ""), ("duration", "long", ""),
                                  ("eventThread", "java.lang.Thread", "cp"),
                                  ("stackTrace", "jdk.types.StackTrace", "cp"),
                                  ("monitorClass", "java.lang.Class", "cp"),
                                  ("previousOwner", "java.lang.Thread", "cp"),
                                  ("address", "long", ""), ("contextId", "long", "")]),
        ("jdk.ThreadPark", [("startTime", "long", ""), ("duration", "long", ""),
                            ("eventThread", "java.lang.Thread", "cp"),
                            ("stackTrace", "jdk.types.StackTrace", "cp"),
                            ("parkedClass", "java.lang.Class", "cp"),
                            ("timeout", "long", ""), ("until", "long", ""),
                            ("address", "long", ""), ("contextId", "long", "")]),
        ("profiler.LiveObject", [("startTime", "long", ""),
                                 ("eventThread", "java.lang.Thread", "cp"),
                                 ("stackTrace", "jdk.types.StackTrace", "cp"),
                                 ("objectClass", "java.lang.Class", "cp"),
                                 ("allocationSize", "long", ""),
                                 ("allocationTime", "long", "")]),
        # An event type Ember does not read, with a stack trace and every
        # kind of field, to be stepped over by its declared types.
        ("demo.Unknown", [("startTime", "long", ""), ("f", "float", ""),
                          ("d", "double", ""), ("s", "java.lang.String", ""),
                          ("pairs", "demo.Pair", "array"), ("b", "byte", ""),
                          ("flag", "boolean", ""), ("stackTrace", "jdk.types.StackTrace", "cp"),
                          ("longs", "long", "array")]),
    ]
    out = {}
    for i, name in enumerate(PRIMITIVES):
        out[name] = (base + i, [])
    for i, (name, fields) in enumerate(defs):
        out[name] = (base + 100 + i, fields)
    return out


def metadata(compressed, cls):
    strings = []

    def s(text):
        if text not in strings:
            strings.append(text)
        return strings.index(text)

    def element(name, attrs, children=()):
        o = Out(compressed).int(s(name)).int(len(attrs))
        for k, v in attrs:
            o.int(s(k)).int(s(v))
        o.int(len(children))
        for c in children:
            o.raw(c)
        return bytes(o.b)

    class_elements = []
    for name, (cid, fields) in sorted(cls.items(), key=lambda kv: kv[1][0]):
        kids = []
        for fname, ftype, flags in fields:
            tid = ftype if isinstance(ftype, int) else cls[ftype][0]
            attrs = [("name", fname), ("class", str(tid))]
            if "cp" in flags:
                attrs.append(("constantPool", "true"))
            if "array" in flags:
                attrs.append(("dimension", "1"))
            # An annotation inside a field, as the JDK writes labels.
            kids.append(element("field", attrs, [element("annotation", [
                ("class", str(cls["java.lang.String"][0])), ("value", fname)])]))
        attrs = [("name", name), ("id", str(cid))]
        if name.startswith(("jdk.Execution", "jdk.Object", "jdk.Java", "jdk.Thread",
                            "profiler.", "demo.Unknown")):
            attrs.append(("superType", "jdk.jfr.Event"))
        if name in PRIMITIVES:
            attrs.append(("simpleType", "true"))
        class_elements.append(element("class", attrs, kids))
    root = element("root", [], [element("metadata", [], class_elements),
                                element("region", [("locale", "en_US"), ("gmtOffset", "0")])])
    o = Out(compressed).long(1).long(0).long(0).int(len(strings))
    for text in strings:
        o.string(text)
    return bytes(o.raw(root).b)


# ---- The model: what the recording says -------------------------------------------

TICKS_PER_SEC = 2_000_000_000  # a TSC clock: durations are halved into nanoseconds

# Methods: (class name, method name, string encoding of the method name).
METHODS = {
    "main": ("demo/Main", "main", "utf8"),
    "work": ("demo/Main", "work", "latin1"),
    "café": ("demo/Café", "brew", "latin1"),
    "lambda": ("demo/Main", "λ😀", "utf16"),
    "alloc": ("demo/Main", "allocate", "utf8"),
    "lock": ("demo/Main", "await", "utf8"),
    "pooled": ("demo/Main", 7, "pool"),  # the name is java.lang.String pool key 7
    "native": ("", "__write", "utf8"),   # async-profiler: a native symbol, no class
    "nullname": ("demo/Main", None, "null"),  # a method without a name: left out
}
POOLED = {7: "pooledName"}
NAMES = {k: (m[1] if m[2] != "pool" else POOLED[m[1]]) for k, m in METHODS.items()}

# Stacks, leaf first; "-" is a frame with no method (left out).
STACKS = {
    "hot": ["work", "main"],
    "cafe": ["café", "work", "main"],
    "lambda": ["lambda", "main"],
    "native": ["native", "pooled", "-", "main"],
    "alloc": ["alloc", "work", "main"],
    "lock": ["lock", "nullname", "main"],
}

CONTEXTS = {
    1: {"span": "a", "user": "alice"},
    2: {"user": "bob"},
    # 3: a label whose key has no string: dropped, leaving {user=carol}
    3: {"user": "carol"},
}
UNKNOWN_CONTEXT = 99

# The events of each chunk: (kind, stack, context, value); value is ticks
# for locks, bytes for allocations, ignored otherwise. A state of None is a
# running thread.
CHUNKS = [
    [("exec", "hot", 0, None), ("exec", "hot", 0, None), ("exec", "cafe", 1, None),
     ("exec", "lambda", 2, None), ("exec", "native", 0, None),
     ("exec_sleeping", "hot", 0, None), ("exec", "hot", UNKNOWN_CONTEXT, None),
     ("exec_nostack", None, 0, None),
     ("tlab", "alloc", 1, 4096), ("tlab", "alloc", 1, 8192), ("outside", "alloc", 0, 1 << 20),
     ("monitor", "lock", 0, 3_000_000), ("park", "lock", 2, 5_000_000),
     ("live", "alloc", 0, 100), ("unknown", "hot", 0, None), ("undeclared", None, 0, None)],
    [("exec", "hot", 0, None), ("exec", "cafe", 3, None), ("exec", "native", 0, None),
     ("tlab", "alloc", 0, 1000), ("monitor", "lock", 0, 1)],
]


def expected(app, event, labels=True):
    """What Ember makes of the model: "app.type{labels} stack value" lines."""
    sums = {}

    def add(suffix, ctx, stack, value):
        if value <= 0:
            return
        tags = {"env": "test"}
        if labels:
            tags.update(CONTEXTS.get(ctx, {}))
        key = "%s.%s{%s}" % (app, suffix, ",".join("%s=%s" % kv for kv in sorted(tags.items())))
        frames = [NAMES[m] if METHODS[m][0] == "" else "%s.%s" % (METHODS[m][0], NAMES[m])
                  for m in reversed(STACKS[stack]) if m != "-" and NAMES[m]]
        line = key + " " + (";".join(frames) or "<root>")
        sums[line] = sums.get(line, 0) + value

    for chunk in CHUNKS:
        for kind, stack, ctx, value in chunk:
            if kind.startswith("exec") and stack:
                if event == "wall":
                    add("wall", ctx, stack, 1)
                    if kind != "exec_sleeping":
                        add("cpu", ctx, stack, 1)
                else:
                    add(event, ctx, stack, 1)
            elif kind == "tlab":
                add("alloc_in_new_tlab_objects", ctx, stack, 1)
                add("alloc_in_new_tlab_bytes", ctx, stack, value)
            elif kind == "outside":
                add("alloc_outside_tlab_objects", ctx, stack, 1)
                add("alloc_outside_tlab_bytes", ctx, stack, value)
            elif kind in ("monitor", "park"):
                add("lock_count", ctx, stack, 1)
                add("lock_duration", ctx, stack, value * 1_000_000_000 // TICKS_PER_SEC)
            elif kind == "live":
                add("live", ctx, stack, 1)
    return "".join(sorted("%s %d\n" % kv for kv in sums.items()))


# ---- Writing a chunk from the model ---------------------------------------------------


def chunk(compressed, index, events, final):
    base = 1000 * index + 10  # each chunk numbers its classes its own way
    keys = 1000 * index + 1   # ... and its constant pool keys
    cls = classes(base)

    def cid(name):
        return cls[name][0]

    # Keys of this chunk's constants.
    method_keys = {m: keys + i for i, m in enumerate(METHODS)}
    stack_keys = {s: keys + 100 + i for i, s in enumerate(STACKS)}
    symbols, class_keys = {}, {}

    def cenc(cname):  # a class name with non-ASCII letters in Latin-1
        return "latin1" if any(ord(ch) > 127 for ch in cname) else "utf8"

    for m, (cname, mname, enc) in METHODS.items():
        if cname not in class_keys:
            class_keys[cname] = keys + 200 + len(class_keys)
        for text, e in ((cname, cenc(cname)), (mname, enc)):
            if e not in ("pool", "null") and (text, e) not in symbols:
                symbols[(text, e)] = keys + 300 + len(symbols)
    thread_key, state_run, state_sleep = keys + 400, keys + 401, keys + 402
    frame_jit = keys + 403

    def o():
        return Out(compressed)

    evs = []
    t = 1000
    for kind, stack, ctx, value in events:
        t += 10
        st = stack_keys[stack] if stack else 0
        if kind.startswith("exec"):
            state = state_sleep if kind == "exec_sleeping" else state_run
            body = o().long(t).long(thread_key).long(st).long(state).long(ctx).b
            evs.append(event(compressed, cid("jdk.ExecutionSample"), body, padded=True))
        elif kind == "tlab":
            body = (o().long(t).long(thread_key).long(st).long(class_keys["demo/Main"])
                    .long(value // 2).long(value).long(ctx).b)
            evs.append(event(compressed, cid("jdk.ObjectAllocationInNewTLAB"), body))
        elif kind == "outside":
            body = (o().long(t).long(thread_key).long(st).long(class_keys["demo/Main"])
                    .long(value).long(ctx).b)
            evs.append(event(compressed, cid("jdk.ObjectAllocationOutsideTLAB"), body))
        elif kind == "monitor":
            body = (o().long(t).long(value).long(thread_key).long(st)
                    .long(class_keys["demo/Main"]).long(thread_key).long(0xDEAD).long(ctx).b)
            evs.append(event(compressed, cid("jdk.JavaMonitorEnter"), body))
        elif kind == "park":
            body = (o().long(t).long(value).long(thread_key).long(st)
                    .long(class_keys["demo/Main"]).long(-1).long(-(1 << 63)).long(0xBEEF)
                    .long(ctx).b)
            evs.append(event(compressed, cid("jdk.ThreadPark"), body))
        elif kind == "live":
            body = (o().long(t).long(thread_key).long(st).long(class_keys["demo/Main"])
                    .long(value).long(t - 5).b)
            evs.append(event(compressed, cid("profiler.LiveObject"), body))
        elif kind == "unknown":
            body = (o().long(t).raw(struct.pack(">f", 1.5)).raw(struct.pack(">d", -2.25))
                    .string("naïve ☃", "utf16").int(2)
                    .int(-7).string("Zürich", "latin1").short(0x263A).short(-2)
                    .int(1 << 31).string(None, "null").short(65).short(0)
                    .u8(0xFF).u8(1).long(st).int(3).long(1).long(1 << 62).long(-1).b)
            evs.append(event(compressed, cid("demo.Unknown"), body))
        elif kind == "undeclared":
            evs.append(event(compressed, base + 999, bytes(range(40))))

    # Constant pools, in two checkpoints: symbols and strings first.
    def pool(name, entries):
        p = o().long(cid(name)).int(len(entries))
        for key, write in entries:
            p.long(key)
            write(p)
        return bytes(p.b)

    sym_entries = []
    for (text, enc), key in symbols.items():
        sym_entries.append((key, lambda p, text=text, enc=enc: p.string(text, enc)))
    str_entries = [(k, lambda p, v=v: p.string(v, "utf8")) for k, v in POOLED.items()]
    pools_a = [pool("jdk.types.Symbol", sym_entries), pool("java.lang.String", str_entries)]

    def method(p, m):
        cname, mname, enc = METHODS[m]
        name_key = {"pool": keys + 500, "null": 0}[enc] if enc in ("pool", "null") \
            else symbols[(mname, enc)]
        p.long(class_keys[cname]).long(name_key).long(0).int(9).u8(0)

    def trace(p, s):
        frames = STACKS[s]
        p.u8(0).int(len(frames))
        for m in frames:
            p.long(0 if m == "-" else method_keys[m]).int(42).int(7).long(frame_jit)

    def klass(p, cname):
        p.long(0).long(symbols[(cname, cenc(cname))]).long(0).int(1)

    # A symbol whose string is a key into the java.lang.String pool.
    sym_entries.append((keys + 500, lambda p: p.string(7, "pool")))
    pools_a[0] = pool("jdk.types.Symbol", sym_entries)
    pools_b = [
        pool("jdk.types.Method", [(k, lambda p, m=m: method(p, m)) for m, k in method_keys.items()]),
        pool("java.lang.Class", [(k, lambda p, c=c: klass(p, c)) for c, k in class_keys.items()]),
        pool("jdk.types.StackTrace", [(k, lambda p, s=s: trace(p, s)) for s, k in stack_keys.items()]),
        pool("java.lang.Thread", [(thread_key, lambda p: p.string("main").long(1).string("main")
                                   .long(1))]),
        pool("jdk.types.ThreadState", [(state_run, lambda p: p.string("STATE_RUNNABLE")),
                                       (state_sleep, lambda p: p.string("STATE_SLEEPING"))]),
        pool("jdk.types.FrameType", [(frame_jit, lambda p: p.string("JIT compiled"))]),
    ]

    meta = event(compressed, 0, metadata(compressed, cls), padded=True)
    out = bytearray(68)
    meta_off = len(out)
    out += meta
    for e in evs:
        out += e
    cp_a = len(out)
    body = o().long(t).long(0).long(0).u8(1).int(len(pools_a)).b
    for p in pools_a:
        body += p
    out += event(compressed, 1, body)
    cp_b = len(out)
    body = o().long(t).long(0).long(cp_a - cp_b).u8(0).int(len(pools_b)).b
    for p in pools_b:
        body += p
    out += event(compressed, 1, body)
    flags = (1 if compressed else 0) | (2 if final else 0)
    out[0:68] = (b"FLR\0" + struct.pack(">HH", 2, 1) +
                 struct.pack(">qqqqqqq", len(out), cp_b, meta_off, 1_700_000_000_000_000_000,
                             10_000_000_000, 5000, TICKS_PER_SEC) +
                 bytes([0, 0]) + struct.pack(">H", flags))
    return bytes(out)


def recording(compressed):
    return b"".join(chunk(compressed, i, ev, i == len(CHUNKS) - 1)
                    for i, ev in enumerate(CHUNKS))


def labels_snapshot():
    """LabelsSnapshot (src/jfr/labels.proto), encoded by hand."""
    strings = {}

    def sid(text):
        if text not in strings:
            strings[text] = 10 + len(strings)
        return strings[text]

    def pb_varint(v):
        v &= (1 << 64) - 1
        out = bytearray()
        while v >= 0x80:
            out.append(v & 0x7F | 0x80)
            v >>= 7
        out.append(v)
        return bytes(out)

    def field(num, wire, payload):
        if wire == 0:
            return pb_varint(num << 3) + pb_varint(payload)
        return pb_varint(num << 3 | 2) + pb_varint(len(payload)) + payload

    snap = b""
    for ctx, labels in sorted(CONTEXTS.items()):
        context = b""
        for k, v in sorted(labels.items()):
            context += field(1, 2, field(1, 0, sid(k)) + field(2, 0, sid(v)))
        if ctx == 3:  # a key whose string the snapshot lacks: dropped
            context += field(1, 2, field(1, 0, 9999) + field(2, 0, sid("x")))
        snap += field(1, 2, field(1, 0, ctx) + field(2, 2, context))
    for text, i in sorted(strings.items(), key=lambda kv: kv[1]):
        snap += field(2, 2, field(1, 0, i) + field(2, 2, text.encode()))
    return snap


# ---- The JDK's own recorder ---------------------------------------------------------

JFC = """<?xml version="1.0" encoding="UTF-8"?>
<configuration version="2.0">
  <event name="jdk.ExecutionSample"><setting name="enabled">true</setting>
    <setting name="period">10 ms</setting></event>
  <event name="jdk.ObjectAllocationInNewTLAB"><setting name="enabled">true</setting>
    <setting name="stackTrace">true</setting></event>
  <event name="jdk.ObjectAllocationOutsideTLAB"><setting name="enabled">true</setting>
    <setting name="stackTrace">true</setting></event>
  <event name="jdk.ObjectAllocationSample"><setting name="enabled">true</setting>
    <setting name="throttle">150/s</setting><setting name="stackTrace">true</setting></event>
  <event name="jdk.JavaMonitorEnter"><setting name="enabled">true</setting>
    <setting name="threshold">10 ms</setting><setting name="stackTrace">true</setting></event>
</configuration>
"""

JDK_APPS = {
    "jdk.ExecutionSample": [("cpu", None)],
    "jdk.ObjectAllocationInNewTLAB": [("alloc_in_new_tlab_objects", None),
                                      ("alloc_in_new_tlab_bytes", "tlabSize")],
    "jdk.ObjectAllocationOutsideTLAB": [("alloc_outside_tlab_objects", None),
                                        ("alloc_outside_tlab_bytes", "allocationSize")],
    "jdk.ObjectAllocationSample": [("alloc_sample_objects", None),
                                   ("alloc_sample_bytes", "weight")],
    "jdk.JavaMonitorEnter": [("lock_count", None), ("lock_duration", "duration")],
}


def iso_ns(d):
    """Java's Duration.toString(), PT1M2.5S, in nanoseconds."""
    m = re.fullmatch(r"PT(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+)(?:\.(\d+))?S)?", d)
    h, mi, s, frac = m.groups()
    ns = (int(h or 0) * 3600 + int(mi or 0) * 60 + int(s or 0)) * 1_000_000_000
    return ns + int((frac or "").ljust(9, "0")[:9] or 0)


def jdk_expected(path, app):
    """The stacks the JDK's reader sees, as Ember must store them."""
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "10000", "--events",
                          ",".join(JDK_APPS), path],
                         check=True, capture_output=True, text=True).stdout
    sums = {}
    for ev in json.loads(out)["recording"]["events"]:
        st = ev["values"].get("stackTrace")
        if not st:
            continue
        frames = []
        for f in reversed(st["frames"]):
            m = f["method"]
            if not m or not m.get("name"):
                continue
            cls = (m.get("type") or {}).get("name") or ""
            frames.append("%s.%s" % (cls, m["name"]) if cls else m["name"])
        for suffix, field in JDK_APPS[ev["type"]]:
            if field is None:
                value = 1
            elif field == "duration":
                value = iso_ns(ev["values"][field])
            else:
                value = int(ev["values"][field])
            if value <= 0:
                continue
            line = "%s.%s{env=test} %s" % (app, suffix, ";".join(frames) or "<root>")
            sums[line] = sums.get(line, 0) + value
    return "".join(sorted("%s %d\n" % kv for kv in sums.items()))


def capture_jdk():
    tmp = tempfile.mkdtemp()
    try:
        jfc = os.path.join(tmp, "few.jfc")
        with open(jfc, "w") as f:
            f.write(JFC)
        out = os.path.join(tmp, "classes")
        subprocess.run(["javac", "-d", out,
                        os.path.join(ROOT, "examples", "java", "HotMethods.java")], check=True)
        rec = os.path.join(tmp, "hot.jfr")
        subprocess.run(["java", "-XX:StartFlightRecording=settings=%s,filename=%s" % (jfc, rec),
                        "-Dseconds=1", "-cp", out, "HotMethods"], check=True)
        with open(rec, "rb") as f:
            data = f.read()
        write("jdk17_hot.jfr.gz", gzip.compress(data, mtime=0))
        write("jdk17_hot.expected", jdk_expected(rec, "app"))
        write_seed("jdk17_hot", data)
    finally:
        shutil.rmtree(tmp)


# ---- Hostile recordings ----------------------------------------------------------------

MINI = {name: (i + 1, []) for i, name in enumerate(PRIMITIVES)}


def mini_classes(extra):
    cls = dict(MINI)
    for i, (name, fields) in enumerate(extra):
        cls[name] = (100 + i, fields)
    return cls


STACK_CLASSES = [
    ("jdk.types.Symbol", [("string", "java.lang.String", "")]),
    ("java.lang.Class", [("name", "jdk.types.Symbol", "cp")]),
    ("jdk.types.Method", [("type", "java.lang.Class", "cp"), ("name", "jdk.types.Symbol", "cp")]),
    ("jdk.types.StackFrame", [("method", "jdk.types.Method", "cp")]),
    ("jdk.types.StackTrace", [("truncated", "boolean", ""),
                              ("frames", "jdk.types.StackFrame", "array")]),
    ("jdk.ExecutionSample", [("startTime", "long", ""), ("stackTrace", "jdk.types.StackTrace", "cp")]),
]


def mini_chunk(cls, events=(), pools=(), compressed=True, meta=None, patch=None):
    """A chunk of the given classes, events (type name or id, body bytes) and
    pools (class name or id, [(key, value bytes)]); patch(bytearray) may
    break it afterwards."""
    def tid(t):
        return t if isinstance(t, int) else cls[t][0]

    out = bytearray(68)
    meta_off = len(out)
    out += event(compressed, 0, meta if meta is not None else metadata(compressed, cls))
    for t, body in events:
        out += event(compressed, tid(t), body)
    cp = len(out)
    body = Out(compressed).long(0).long(0).long(0).u8(1).int(len(pools)).b
    for t, entries in pools:
        body += Out(compressed).long(tid(t)).int(len(entries)).b
        for key, value in entries:
            body += Out(compressed).long(key).b + value
    out += event(compressed, 1, body)
    out[0:68] = (b"FLR\0" + struct.pack(">HH", 2, 1) +
                 struct.pack(">qqqqqqq", len(out), cp, meta_off, 1, 1, 1, 1_000_000_000) +
                 bytes([0, 0]) + struct.pack(">H", 1 if compressed else 0))
    if patch:
        patch(out)
    return bytes(out)


def o():
    return Out(True)


def stack_pools(frames_count=1, method_key=1):
    return [("jdk.types.Symbol", [(1, o().string("C").b), (2, o().string("m").b)]),
            ("java.lang.Class", [(1, o().long(1).b)]),
            ("jdk.types.Method", [(1, o().long(1).long(2).b)]),
            ("jdk.types.StackTrace", [(1, o().u8(0).int(frames_count).b +
                                       o().long(method_key).b * frames_count)])]


def hostile():
    """(file name, recording, expected return code, a part of the message)."""
    st = mini_classes(STACK_CLASSES)
    sample = ("jdk.ExecutionSample", o().long(5).long(1).b)
    loop = mini_classes(STACK_CLASSES + [("demo.Loop", [("next", "demo.Loop", "")])])
    empty = mini_classes(STACK_CLASSES + [
        ("demo.Empty", [("f%d" % i, "demo.Nothing", "") for i in range(1000)]),
        ("demo.Nothing", []),
        ("demo.Many", [("items", "demo.Empty", "array")])])
    twice = mini_classes(STACK_CLASSES)
    twice["demo.Twin"] = (twice["jdk.types.Symbol"][0], [])
    nested = b""
    for _ in range(20):
        nested = Out(True).int(0).int(0).int(1).b + nested
    deep_meta = (Out(True).long(0).long(0).long(0).int(1).string("x").b + nested +
                 Out(True).int(0).int(0).int(0).b)

    def bump(at, by):
        def f(b):
            b[at] = (b[at] + by) & 0xFF
        return f

    def set_byte(at, v):
        def f(b):
            b[at] = v
        return f

    def set_u64(at, v):
        def f(b):
            b[at:at + 8] = struct.pack(">Q", v)
        return f

    return [
        ("ok.jfr", mini_chunk(st, [sample], stack_pools()), 0, ""),
        ("bad_magic.jfr", mini_chunk(st, [sample], stack_pools(), patch=bump(0, 1)),
         -2, "not a JFR recording"),
        ("bad_version.jfr", mini_chunk(st, [sample], stack_pools(), patch=bump(5, 1)),
         -2, "format version 3.1"),
        ("size_past_end.jfr", mini_chunk(st, [sample], stack_pools(), patch=set_u64(8, 1 << 40)),
         -2, "truncated"),
        ("metadata_outside.jfr", mini_chunk(st, [sample], stack_pools(), patch=set_u64(24, 0)),
         -2, "metadata offset 0"),
        ("metadata_not_metadata.jfr",
         mini_chunk(st, [sample], stack_pools(), patch=set_u64(24, 68 + len(event(True, 0, metadata(True, st))))),
         -2, "not to the metadata"),
        ("loop.jfr", mini_chunk(loop, [sample], stack_pools() + [("demo.Loop", [(1, b"")])]),
         -2, "nest more than 32"),
        ("array_past_end.jfr",
         mini_chunk(st, [sample], [("jdk.types.StackTrace", [(1, o().u8(0).int(1000).b)])]),
         -2, "runs past"),
        ("pool_unknown_class.jfr", mini_chunk(st, [sample], [(777, [(1, b"")])]),
         -2, "class id 777"),
        ("field_unknown_type.jfr",
         mini_chunk(mini_classes([("demo.X", [("y", 4242, "")])])), -2, "type id 4242"),
        ("class_twice.jfr", mini_chunk(twice), -2, "twice"),
        ("stack_missing.jfr",
         mini_chunk(st, [("jdk.ExecutionSample", o().long(5).long(9).b)], stack_pools()),
         -2, "stack trace 9"),
        ("method_missing.jfr", mini_chunk(st, [sample], stack_pools(method_key=5)),
         -2, "key 5 of the jdk.types.Method pool"),
        ("bad_string.jfr",
         mini_chunk(st, [sample], [("jdk.types.Symbol", [(1, b"\x09")])]),
         -2, "unknown encoding 9"),
        ("string_pool_loop.jfr",
         mini_chunk(st, [sample], [
             ("jdk.types.Symbol", [(1, o().string("C").b), (2, o().string(3, "pool").b)]),
             ("java.lang.String", [(3, o().string(3, "pool").b)])] + stack_pools()[1:]),
         -2, "refers to the pool again"),
        ("event_size_zero.jfr",
         mini_chunk(st, [sample], stack_pools(), patch=set_byte(68 + len(event(True, 0, metadata(True, st))), 0)),
         -2, "declares 0 bytes"),
        ("deep_metadata.jfr", mini_chunk(st, meta=deep_meta), -2, "nested too deep"),
        ("empty_structs.jfr",
         mini_chunk(empty, [sample], stack_pools() + [
             ("demo.Many", [(1, o().int(30000).b + bytes(30000))])]),
         -3, "more work to read than its size warrants"),
        ("uncompressed_cut.jfr",
         mini_chunk(st, [sample], stack_pools(), compressed=False)[:-3], -2, "truncated"),
    ]


def write(name, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(HERE, name), mode) as f:
        f.write(data)


def write_seed(name, data):
    os.makedirs(CORPUS, exist_ok=True)
    with open(os.path.join(CORPUS, name), "wb") as f:
        f.write(data)


def main():
    rec = recording(True)
    write("asprof.jfr", rec)
    write("asprof.labels", labels_snapshot())
    write("asprof.expected", expected("app", "cpu"))
    write("asprof_wall.expected", expected("app", "wall"))
    write("asprof_nolabels.expected", expected("app", "cpu", labels=False))
    write("uncompressed.jfr", recording(False))
    write_seed("asprof", rec)
    write_seed("uncompressed", recording(False))
    write_seed("one_chunk", chunk(True, 0, CHUNKS[1], True))
    write_seed("truncated", rec[:len(rec) // 2])
    # For the driver's second reading: four bytes saying how long the
    # recording is, the recording, the labels.
    write_seed("form_asprof", struct.pack("<I", len(rec)) + rec + labels_snapshot())
    os.makedirs(os.path.join(HERE, "hostile"), exist_ok=True)
    manifest = ""
    for name, data, code, msg in hostile():
        write(os.path.join("hostile", name), data)
        write_seed("hostile_" + name[:-4], data)
        manifest += "%s %d %s\n" % (name, code, msg)
    write(os.path.join("hostile", "manifest.txt"), manifest)
    if "--synthetic" not in sys.argv:
        capture_jdk()


if __name__ == "__main__":
    main()
