#!/usr/bin/env python3
"""tests/gdb/check_weft_gdb.py — tools/weft-gdb.py, run by gdb -batch.

Usage: check_weft_gdb.py PROGRAM WEFT_GDB_PY B_SANITIZE

PROGRAM is tests/gdb/parked_tasks.cpp, stopped in weft_gdb_test_ready()
with five tasks parked on five kinds of wait. Checks that `weft tasks`
describes each, that `weft bt getter` unwinds the getter's fiber down to
park_on_queue(), that the thread's own `bt` is untouched afterwards, and
then the same on a core file that gdb's gcore writes of the process.

The core is taken with WEFT_STACK_GUARD=mprotect: gcore reads a mapping in
1 MiB chunks and drops any chunk that holds a MADV_GUARD_INSTALL guard page
(Linux 6.13+), which would lose the fiber stacks; a kernel core dump has no
such trouble. Exits 77 (skipped) without gdb or without ptrace.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
# A line of `bt` for a function: gdb leaves the address out where the pc
# is at the start of a line, or the frame is inlined (the ASan build has
# debug information).
FRAME = r"^#\d+ +(0x[0-9a-f]+ in )?%s ?\("


def gdb(script, commands, args, env=None):
    """gdb's output (stdout and stderr, in order) for `commands`, each
    preceded by an echo of `==command==` to split the output by."""
    argv = ["gdb", "-batch", "-nx", "-ex", "source " + script]
    for command in commands:
        argv += ["-ex", "echo ==%s==\\n" % command, "-ex", command]
    result = subprocess.run(argv + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=240, env=env)
    return result.stdout


def sections(output):
    """{command: what it printed} from gdb()'s output."""
    found = {}
    parts = re.split(r"^==(.*)==$", output, flags=re.M)
    for i in range(1, len(parts), 2):
        found[parts[i]] = parts[i + 1]
    return found


class Checker(object):
    def __init__(self):
        self.failures = []

    def check(self, ok, what, output):
        print("%s: %s" % ("ok" if ok else "FAILED", what))
        if not ok:
            self.failures.append("%s\n--- output ---\n%s" % (what, output))

    def row(self, tasks, name, state, waiting):
        pattern = r"^  \d+ +%s +%s +\S+( s)? +%s$" % (name, state, waiting)
        self.check(re.search(pattern, tasks, re.M) is not None, "weft tasks: %s %s on %s" % (name, state, waiting),
                   tasks)

    def tasks(self, tasks, live):
        self.row(tasks, "getter", "parked", r"queue get 0x[0-9a-f]+")
        self.row(tasks, "sleeper", "parked", r"sleep, due in \d+\.\d+ s" if live else r"sleep, due at .*")
        self.row(tasks, "reader", "parked", r"fd \d+ readable")
        self.row(tasks, "parent", "parked", r"task 'getter'")
        self.row(tasks, "gatherer", "parked", r"gather of 2: task 'sleeper', task 'reader'")
        self.row(tasks, r"Task-\d+", "running", "-")
        self.check("  parent\n  └── getter\n" in tasks and "  gatherer\n  ├── sleeper\n  └── reader\n" in tasks,
                   "weft tasks: the await tree", tasks)

    def backtrace(self, bt):
        self.check(re.search(FRAME % "park_on_queue", bt, re.M) is not None,
                   "weft bt getter: a frame in park_on_queue()", bt)
        self.check(re.search(r"^#0 ", bt, re.M) is None and "weft_gdb_test_ready" not in bt,
                   "weft bt getter: the thread's own frame is left out", bt)


def main():
    program, script, sanitize = sys.argv[1:4]
    if shutil.which("gdb") is None:
        print("gdb is not installed")
        return SKIP
    asan = "address" in sanitize
    checker = Checker()

    stop = ["break weft_gdb_test_ready", "run"]
    live = gdb(script, stop + ["weft tasks", "weft bt getter", "weft bt 1", "bt 1", "kill"], [program])
    if "ptrace: Operation not permitted" in live:
        print("gdb cannot trace a process here (ptrace)")
        return SKIP
    found = sections(live)
    checker.check("Breakpoint 1, " in found.get("run", ""), "the program stops in weft_gdb_test_ready()", live)
    checker.tasks(found.get("weft tasks", ""), live=True)
    checker.backtrace(found.get("weft bt getter", ""))
    checker.check("is running, not suspended on its fiber" in found.get("weft bt 1", ""),
                  "weft bt 1: the running task is refused", live)
    checker.check(re.search(FRAME.replace("\\d+", "0") % "weft_gdb_test_ready", found.get("bt 1", ""), re.M) is not None,
                  "bt after weft bt: the thread's own stack again", live)

    # ASan reserves terabytes of shadow memory, which gcore would try to
    # write out: the core file is checked in the other builds only.
    if not asan:
        with tempfile.TemporaryDirectory(prefix="weft-gdb-") as directory:
            core = os.path.join(directory, "core")
            env = dict(os.environ, WEFT_STACK_GUARD="mprotect")
            gdb(script, stop + ["gcore " + core, "kill"], [program], env=env)
            checker.check(os.path.exists(core), "gcore writes a core file", "")
            if os.path.exists(core):
                found = sections(gdb(script, ["weft tasks", "weft bt getter"], [program, core]))
                checker.tasks(found.get("weft tasks", ""), live=False)
                checker.backtrace(found.get("weft bt getter", ""))

    for failure in checker.failures:
        print("\n" + failure)
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
