# tools/weft-gdb.py — weft's tasks in gdb: what each task waits on, and the
# backtrace of a suspended one (which `bt` cannot see: it lives on its own
# fiber stack).
#
# Load it in gdb (or in ~/.gdbinit):
#
#   (gdb) source tools/weft-gdb.py
#
# Commands:
#
#   weft tasks                   every live task of every loop in the process,
#                                numbered, with its state, age and what it
#                                waits on, then each loop's await tree (as
#                                weft::dump_tasks() prints them)
#   weft bt N|NAME [BT-OPTIONS]  the backtrace of task N (or of the task so
#                                named), which must be parked or ready, i.e.
#                                suspended on its fiber; options go to `bt`
#                                (`weft bt 3 full`, `weft bt getter -5`)
#
# Example (tests/gdb/parked_tasks.cpp, a release build, stopped in
# weft_gdb_test_ready()):
#
#   (gdb) weft tasks
#   weft: 6 tasks on loop 0x7fffffffe570
#     #  TASK      STATE    AGE      WAITING ON
#     1  Task-1    running  0.049 s  -
#     2  getter    parked   0.049 s  queue get 0x7ffff604fd00
#     3  sleeper   parked   0.049 s  sleep, due in 299.958 s
#     4  reader    parked   0.049 s  fd 3 readable
#     5  parent    parked   0.049 s  task 'getter'
#     6  gatherer  parked   0.049 s  gather of 2: task 'sleeper', task 'reader'
#   await tree:
#     Task-1
#     parent
#     └── getter
#     gatherer
#     ├── sleeper
#     └── reader
#   (gdb) weft bt getter
#   weft: task 2 'getter' (parked)
#   #1  0x00005555555743ba in weft::detail::TaskCore::park() ()
#   #2  0x00005555555671c1 in park_on_queue(weft::Queue<int>&) ()
#   #3  0x0000555555567230 in weft::detail::TaskImpl<int, main::{lambda()#1}::operator()() const::{lambda()#1}>::run_body() ()
#   #4  0x0000555555574ef8 in weft::detail::TaskCore::run_on_fiber() ()
#   #5  0x0000555555575031 in weft::detail::TaskSwitch::run(weft::detail::TaskCore&, boost::context::fiber&&) ()
#   #6  0x00005555555751e7 in void boost::context::detail::fiber_entry<...>(boost::context::detail::transfer_t) ()
#   #7  0x00007ffff7fb123f in make_fcontext () at /lib/x86_64-linux-gnu/libboost_context.so.1.74.0
#   #8  0x0000000000000000 in  ()
#
# It needs no debug information: the program describes its own layout in
# weft_debug_offsets and lists its loops in weft_debug_loops (see
# fiber/debug_info.hpp), as CPython 3.14 does with _Py_DebugOffsets. Both
# commands work in a live process and in a core file (ages and timer
# deadlines are only turned into durations in a live local process, whose
# clock is ours). One catch with cores: gdb's `gcore` loses the fiber stacks
# of a process whose stack guards are MADV_GUARD_INSTALL ranges (weft's
# default on Linux 6.13+: gcore drops each 1 MiB chunk it cannot read
# whole); run such a process with WEFT_STACK_GUARD=mprotect before taking a
# gcore. Core dumps written by the kernel are complete either way.
#
# How `weft bt` works (x86_64 only): a suspended fiber is a Boost.Context
# fcontext_t, a pointer to what jump_fcontext() pushed on the fiber's stack
# (the MXCSR/x87 control words, r12-r15, rbx, rbp, then the return address;
# the fiber's rsp is 0x40 past it). For the length of one `bt`, a Python
# unwinder tells gdb that the selected thread's innermost frame was called
# from those registers, and a frame filter hides that innermost frame: so
# the listing starts at #1, with the fiber's frame, and gdb unwinds the rest
# of the fiber's stack itself (.eh_frame, present in release builds). No
# register of the process is written, which is why it also works on a core.

import itertools
import struct
import time

import gdb
import gdb.unwinder

# --- reading the process ----------------------------------------------------------

_DEBUG_VERSION = 1
# WeftDebugOffsets' fields after magic, in order (fiber/debug_info.hpp).
_TABLE_FIELDS = (
    "version", "size",
    "loop_context.debug_next", "loop_context.loop", "loop_context.live_head",
    "task.next_live", "task.name", "task.phase", "task.wait_site", "task.created_ns", "task.context",
    "wait_site.kind", "wait_site.what", "wait_site.object", "wait_site.value",
    "child_waiter.size", "child_waiter.core",
    "string.size", "string.data", "string.length",
)
_PHASES = ("pending", "ready", "running", "parked", "done")  # TaskCore::Phase
_PARKED, _SCHEDULED = 3, 1
# WaitSite::Kind
_WAIT_NONE, _WAIT_OBJECT, _WAIT_FD, _WAIT_TIMER, _WAIT_FUTURE, _WAIT_CHILDREN, _WAIT_THREAD = range(7)
_MAX_LIST = 100000  # a list of loops or tasks longer than this is taken for a corrupt one
_CHILDREN_SHOWN = 4  # as weft::dump_tasks()


def _read(address, size):
    return gdb.selected_inferior().read_memory(address, size).tobytes()


def _u64(address):
    return struct.unpack("<Q", _read(address, 8))[0]


def _i64(address):
    return struct.unpack("<q", _read(address, 8))[0]


def _u8(address):
    return _read(address, 1)[0]


def _c_string(address, limit=200):
    """The NUL-terminated string at address, read a byte at a time past an
    unreadable page."""
    if address == 0:
        return ""
    try:
        data = _read(address, limit)
    except gdb.MemoryError:
        data = bytearray()
        while len(data) < limit:
            try:
                data += _read(address + len(data), 1)
            except gdb.MemoryError:
                break
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


def _symbol_address(name):
    try:
        return int(gdb.parse_and_eval("(unsigned long) &%s" % name))
    except gdb.error:
        raise gdb.GdbError("weft: no %s in this program: it does not use weft, or a weft older than "
                           "this script (or the process has not started yet)" % name)


def _offsets():
    """The program's WeftDebugOffsets, as a dict of the names above."""
    address = _symbol_address("weft_debug_offsets")
    raw = _read(address, 8 + 8 * len(_TABLE_FIELDS))
    if raw[:8] != b"weftdbg\0":
        raise gdb.GdbError("weft: weft_debug_offsets at %#x has no magic: not weft's table" % address)
    table = dict(zip(_TABLE_FIELDS, struct.unpack("<%dQ" % len(_TABLE_FIELDS), raw[8:])))
    if table["version"] != _DEBUG_VERSION:
        raise gdb.GdbError("weft: the program's debug table is version %d; this script reads version %d"
                           % (table["version"], _DEBUG_VERSION))
    return table


class _Task(object):
    def __init__(self, table, address):
        wait = address + table["task.wait_site"]
        self.address = address
        self.number = 0  # set by _loops(): weft bt's N
        self.name = self._string(table, address + table["task.name"])
        self.phase = _u8(address + table["task.phase"])
        self.created_ns = _i64(address + table["task.created_ns"])
        self.context = _u64(address + table["task.context"])
        self.wait_kind = _u8(wait + table["wait_site.kind"])
        self.wait_what = _c_string(_u64(wait + table["wait_site.what"]))
        self.wait_object = _u64(wait + table["wait_site.object"])
        self.wait_value = _i64(wait + table["wait_site.value"])

    @staticmethod
    def _string(table, address):
        if table["string.size"] == 0:
            return "?"  # a standard library whose std::string we cannot read
        length = _u64(address + table["string.length"])
        data = _u64(address + table["string.data"])
        return _read(data, min(length, 200)).decode("utf-8", "replace")

    def state(self):
        return _PHASES[self.phase] if self.phase < len(_PHASES) else "?"

    def suspended(self):
        return self.phase in (_PARKED, _SCHEDULED) and self.context != 0


def _loops():
    """(table, [(loop address or 0 if closed, [tasks, oldest first])]), the
    oldest loop first, its tasks numbered 1, 2, ... across all loops."""
    table = _offsets()
    loops = []
    context = _u64(_symbol_address("weft_debug_loops"))
    while context != 0 and len(loops) < _MAX_LIST:
        tasks = []
        task = _u64(context + table["loop_context.live_head"])
        while task != 0 and len(tasks) < _MAX_LIST:
            tasks.append(_Task(table, task))
            task = _u64(task + table["task.next_live"])
        tasks.reverse()  # both lists are kept newest first
        loops.append((_u64(context + table["loop_context.loop"]), tasks))
        context = _u64(context + table["loop_context.debug_next"])
    loops.reverse()
    for number, task in enumerate((t for _, tasks in loops for t in tasks), 1):
        task.number = number
    return table, loops


def _live_local_process():
    """True if times in the process can be compared with our clock."""
    inferior = gdb.selected_inferior()
    connection = getattr(inferior, "connection", None)
    return inferior.pid != 0 and connection is not None and connection.type == "native"


# --- weft tasks --------------------------------------------------------------------

def _seconds(ns):
    return "%.3f s" % (ns / 1e9)


def _describe_future(address, by_address):
    task = by_address.get(address)
    return "task '%s'" % task.name if task is not None else "future %#x" % address


def _awaited(task, table, by_address):
    """The live tasks `task` waits on directly (weft::dump_tasks' await tree)."""
    if task.phase != _PARKED:
        return []
    if task.wait_kind == _WAIT_FUTURE:
        cores = [task.wait_object]
    elif task.wait_kind == _WAIT_CHILDREN:
        cores = [_u64(task.wait_object + i * table["child_waiter.size"] + table["child_waiter.core"])
                 for i in range(min(task.wait_value, _MAX_LIST))]
    else:
        cores = []
    return [by_address[core] for core in cores if core in by_address]


def _describe_wait(task, table, by_address, now_ns):
    if task.phase != _PARKED:
        return "-"
    kind, what = task.wait_kind, task.wait_what
    if kind == _WAIT_OBJECT:
        return "%s %#x" % (what, task.wait_object)
    if kind == _WAIT_FD:
        return "fd %d %s" % (task.wait_value, "readable" if what == "fd readable" else "writable")
    if kind == _WAIT_TIMER:
        if now_ns is None:
            return "%s, due at %s on CLOCK_MONOTONIC" % (what, _seconds(task.wait_value))
        left = task.wait_value - now_ns
        return "%s, %s" % (what, "due in " + _seconds(left) if left >= 0 else "overdue by " + _seconds(-left))
    if kind == _WAIT_FUTURE:
        future = _describe_future(task.wait_object, by_address)
        return future if what in ("task", "future") else "%s: %s" % (what, future)
    if kind == _WAIT_CHILDREN:
        cores = [_u64(task.wait_object + i * table["child_waiter.size"] + table["child_waiter.core"])
                 for i in range(min(task.wait_value, _CHILDREN_SHOWN))]
        text = "%s of %d: %s" % (what, task.wait_value, ", ".join(_describe_future(c, by_address) for c in cores))
        return text + (", ..." if task.wait_value > _CHILDREN_SHOWN else "")
    if kind == _WAIT_THREAD:
        return "%s: a function running on a worker thread" % what
    return "-" if kind == _WAIT_NONE else "? (wait kind %d)" % kind


def _print_tree(task, children, prefix, root, last, printed):
    line = "  " + prefix + ("" if root else "└── " if last else "├── ") + task.name
    if task.address in printed:
        gdb.write(line + " (see above)\n")
        return
    printed.add(task.address)
    gdb.write(line + "\n")
    below = "" if root else prefix + ("    " if last else "│   ")
    awaited = children[task.address]
    for i, child in enumerate(awaited):
        _print_tree(child, children, below, False, i + 1 == len(awaited), printed)


def _print_loop(loop, tasks, table):
    by_address = dict((t.address, t) for t in tasks)
    live = _live_local_process()
    now_coarse = time.clock_gettime_ns(time.CLOCK_MONOTONIC) if live else None
    now_steady = time.monotonic_ns() if live else None
    rows = [("#", "TASK", "STATE", "AGE", "WAITING ON")]
    for t in tasks:
        age = _seconds(max(now_coarse - t.created_ns, 0)) if live else "?"
        rows.append((str(t.number), t.name, t.state(), age, _describe_wait(t, table, by_address, now_steady)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    where = "loop %#x" % loop if loop != 0 else "a closed loop"
    gdb.write("weft: %d %s on %s\n" % (len(tasks), "task" if len(tasks) == 1 else "tasks", where))
    for row in rows:
        gdb.write("  " + "".join(cell.ljust(width + 2) for cell, width in zip(row, widths)) + row[4] + "\n")

    # The await tree: roots are the tasks no live task waits on, then the
    # tasks only reachable through a cycle of waits.
    children = dict((t.address, _awaited(t, table, by_address)) for t in tasks)
    awaited = set(child.address for kids in children.values() for child in kids)
    gdb.write("await tree:\n")
    printed = set()
    for t in [t for t in tasks if t.address not in awaited] + tasks:
        if t.address not in printed:
            _print_tree(t, children, "", True, True, printed)


class _WeftPrefix(gdb.Command):
    """weft's tasks: `weft tasks`, `weft bt N|NAME`."""

    def __init__(self):
        super(_WeftPrefix, self).__init__("weft", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class _WeftTasks(gdb.Command):
    """List the live weft tasks of every loop, and what each waits on.
For each task: its number (for `weft bt`), name, state, age and what it
waits on; then each loop's await tree, as weft::dump_tasks() prints them."""

    def __init__(self):
        super(_WeftTasks, self).__init__("weft tasks", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, argument, from_tty):
        table, loops = _loops()
        if not loops:
            gdb.write("weft: no loop has made a task or future yet\n")
        for loop, tasks in loops:
            _print_loop(loop, tasks, table)


# --- weft bt -----------------------------------------------------------------------

# What jump_fcontext() (Boost.Context 1.74, x86_64 SysV) leaves at a
# suspended fiber's fcontext_t: register -> offset. The fiber's rsp is the
# address just past the return address.
_FCONTEXT_REGISTERS = (("r12", 0x08), ("r13", 0x10), ("r14", 0x18), ("r15", 0x20),
                       ("rbx", 0x28), ("rbp", 0x30), ("rip", 0x38))
_FCONTEXT_SIZE = 0x40


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _FiberUnwinder(gdb.unwinder.Unwinder):
    """While `fctx` is set: the thread's innermost frame (found by its pc and
    sp) returns into the fiber saved at fctx."""

    def __init__(self):
        super(_FiberUnwinder, self).__init__("weft-fiber")
        self.fctx = None
        self.thread_pc = self.thread_sp = None

    def is_thread_frame(self, pc, sp):
        return self.fctx is not None and pc == self.thread_pc and sp == self.thread_sp

    def __call__(self, pending_frame):
        if self.fctx is None:
            return None
        pc = pending_frame.read_register("rip")
        sp = pending_frame.read_register("rsp")
        if not self.is_thread_frame(int(pc), int(sp)):
            return None
        # The frame's id says it sits just below the fiber's frame, whatever
        # stack the thread is on: gdb stops a backtrace whose next frame
        # looks inner to (below) the one before it.
        info = pending_frame.create_unwind_info(_FrameId(gdb.Value(self.fctx).cast(sp.type), pc))
        info.add_saved_register("rsp", gdb.Value(self.fctx + _FCONTEXT_SIZE).cast(sp.type))
        for name, offset in _FCONTEXT_REGISTERS:
            register_type = pending_frame.read_register(name).type
            info.add_saved_register(name, gdb.Value(_u64(self.fctx + offset)).cast(register_type))
        return info


class _HideThreadFrame(object):
    """Drops the thread's own innermost frame(s) from a `weft bt`."""

    name = "weft-fiber"
    priority = 100

    def __init__(self, unwinder):
        self.unwinder = unwinder

    @property
    def enabled(self):
        return self.unwinder.fctx is not None

    def filter(self, frames):
        def is_thread_frame(decorator):
            frame = decorator.inferior_frame()
            return self.unwinder.is_thread_frame(frame.pc(), int(frame.read_register("rsp")))
        return itertools.dropwhile(is_thread_frame, frames)


_UNWINDER = _FiberUnwinder()
gdb.unwinder.register_unwinder(None, _UNWINDER, replace=True)
gdb.frame_filters[_HideThreadFrame.name] = _HideThreadFrame(_UNWINDER)


def _find_task(which):
    _, loops = _loops()
    tasks = [t for _, ts in loops for t in ts]
    found = [t for t in tasks if str(t.number) == which] or [t for t in tasks if t.name == which]
    if not found:
        raise gdb.GdbError("weft: no live task %s (see `weft tasks`)" % which)
    if len(found) > 1:
        raise gdb.GdbError("weft: %d tasks are named %s: give its number (see `weft tasks`)" % (len(found), which))
    return found[0]


class _WeftBt(gdb.Command):
    """Backtrace of a suspended weft task: weft bt N|NAME [BT-OPTIONS].
N is the task's number in `weft tasks`. The task must be parked or ready
(a running task is the thread's own `bt`). Frame #0, the thread's own, is
left out. x86_64 only."""

    def __init__(self):
        super(_WeftBt, self).__init__("weft bt", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, argument, from_tty):
        words = gdb.string_to_argv(argument)
        if not words:
            raise gdb.GdbError("usage: weft bt N|NAME [BT-OPTIONS]")
        if gdb.selected_inferior().architecture().name() != "i386:x86-64":
            raise gdb.GdbError("weft bt: only x86_64 fibers are known")
        task = _find_task(words[0])
        if not task.suspended():
            raise gdb.GdbError("weft bt: task %d '%s' is %s, not suspended on its fiber%s"
                               % (task.number, task.name, task.state(),
                                  " (its stack is the thread's: bt)" if task.state() == "running" else ""))
        newest = gdb.newest_frame()
        _UNWINDER.thread_pc = newest.pc()
        _UNWINDER.thread_sp = int(newest.read_register("rsp"))
        _UNWINDER.fctx = task.context
        gdb.invalidate_cached_frames()
        try:
            gdb.write("weft: task %d '%s' (%s)\n" % (task.number, task.name, task.state()))
            gdb.execute(" ".join(["backtrace"] + words[1:]), from_tty)
        finally:
            _UNWINDER.fctx = None
            gdb.invalidate_cached_frames()


_WeftPrefix()
_WeftTasks()
_WeftBt()
