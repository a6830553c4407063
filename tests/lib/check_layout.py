#!/usr/bin/python3
"""The layout rules of core/ (docs/design.md, "Layout"), checked on every test run.

    check_layout.py SOURCE_DIR FOLDER[:USES,...] ...

The arguments are CMakeLists.txt's TOKFS_CORE_FOLDERS: each folder of core/ and the folders it may
use. Fails, naming the file and line, when:
  - a file in core/F includes "G/..." and G is neither F nor declared as used by F (so the folders
    keep to one direction: no include cycle can form);
  - a folder's *_internal.h is included from outside that folder (tests/ may: a folder's unit
    tests exercise its internals, as zstd's tests do);
  - core/ includes from fs/, or a header is named without its folder ("x.h" instead of "F/x.h");
  - a folder of core/ is not declared, or a declared use makes a cycle;
  - a file of core/ or fs/ does not open with a comment saying what it owns.
"""
import os
import re
import sys

src = sys.argv[1]
uses = {}
for arg in sys.argv[2:]:
    folder, _, deps = arg.partition(":")
    uses[folder] = set(d for d in deps.split(",") if d)

problems = []

# Declared uses must form a DAG (the CMake order already implies it; check it anyway).
state = {}
def visit(f, path):
    if state.get(f) == 1:
        problems.append("cycle among declared folders: " + " -> ".join(path + [f]))
        return
    if state.get(f) == 2:
        return
    state[f] = 1
    for d in sorted(uses.get(f, ())):
        if d not in uses:
            problems.append("folder %s uses undeclared folder %s" % (f, d))
        else:
            visit(d, path + [f])
    state[f] = 2
for f in sorted(uses):
    visit(f, [])

core = os.path.join(src, "core")
for entry in sorted(os.listdir(core)):
    if os.path.isdir(os.path.join(core, entry)) and entry not in uses:
        if any(n.endswith((".c", ".h")) for n in os.listdir(os.path.join(core, entry))):
            problems.append("core/%s is not declared in CMakeLists.txt's TOKFS_CORE_FOLDERS" % entry)

include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')

def check_file(rel, folder):
    with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    if rel.startswith(("core/", "fs/")) and not lines[0].startswith("/*"):
        problems.append("%s: does not open with a comment saying what it owns" % rel)
    for n, line in enumerate(lines, 1):
        m = include_re.match(line)
        if not m:
            continue
        target = m.group(1)
        where = "%s:%d: #include \"%s\"" % (rel, n, target)
        if "/" not in target:
            if rel.startswith("core/"):
                problems.append("%s: name the folder (\"F/%s\")" % (where, target))
            continue
        tfolder = target.split("/")[0]
        if tfolder not in uses:
            if rel.startswith("core/"):
                problems.append("%s: core/ may include only core/ folders" % where)
            continue
        if target.endswith("_internal.h") and folder != tfolder and not rel.startswith("tests/"):
            problems.append("%s: %s's internal header, used outside it" % (where, tfolder))
        if folder is not None and tfolder != folder and tfolder not in uses[folder]:
            problems.append("%s: %s may not use %s (declared: %s)"
                            % (where, folder, tfolder, ", ".join(sorted(uses[folder])) or "nothing"))

for top in ("core", "fs", "tests", "bench"):
    for root, dirs, files in os.walk(os.path.join(src, top)):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)
            parts = rel.split(os.sep)
            folder = parts[1] if parts[0] == "core" and len(parts) > 2 else None
            check_file(rel, folder)

for p in problems:
    print("check_layout: " + p)
if problems:
    sys.exit("check_layout: %d problem(s)" % len(problems))
print("check_layout: %d folders, includes keep to the declared order" % len(uses))
