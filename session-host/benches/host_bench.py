#!/usr/bin/env python3
"""Session host benchmarks, each measured side by side with its reference in one run.

    cargo build --release -p walkie
    python3 session-host/benches/host_bench.py throughput [--mb 200] [--runs 3] [--recording] [--sandbox]
    python3 session-host/benches/host_bench.py latency [--keys 300]
    python3 session-host/benches/host_bench.py memory [--sessions 100] [--gb 1]
    python3 session-host/benches/host_bench.py revive [--sessions 20] [--runs 3]
    python3 session-host/benches/host_bench.py idle [--sessions 100] [--seconds 60]
    python3 session-host/benches/host_bench.py remote [--keys 300] [--mb 50] [--runs 3] [--reconnects 5]

Needs tmux and script (util-linux); `remote` needs sshd and ssh (openssh-server, -client). Prints a Markdown table for docs/PERFORMANCE.md.
"""

import argparse
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WALKIE = os.environ.get("WALKIE", os.path.join(ROOT, "target", "release", "walkie"))
COLS, ROWS = 120, 40


def spawn_pty(argv, env=None):
    """Runs argv in a new PTY of COLS x ROWS; returns (pid, master fd)."""
    pid, fd = pty.fork()
    if pid == 0:
        if env:
            os.environ.update(env)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    return pid, fd


def drain(pid, fd):
    """Reads the PTY until the child exits; returns bytes read."""
    n = 0
    while True:
        try:
            b = os.read(fd, 1 << 16)
        except OSError:
            break
        if not b:
            break
        n += len(b)
    os.waitpid(pid, 0)
    os.close(fd)
    return n


def timed_client(pty_pair, attached, start):
    """Drains an attached client's PTY (so it never blocks on a full PTY); once `attached()`
    is true calls `start()`, and returns the seconds from then until the client exits."""
    pid, fd = pty_pair
    t0 = None
    while True:
        if t0 is None and attached():
            t0 = time.monotonic()
            start()
        r, _, _ = select.select([fd], [], [], 0.01)
        if r:
            try:
                b = os.read(fd, 1 << 16)
            except OSError:
                break
            if not b:
                break
    os.waitpid(pid, 0)
    os.close(fd)
    return time.monotonic() - t0


def wait_until(what, pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


class Walkie:
    def __init__(self, tmp, record=True, tag="w", extra="", exe=None):
        # exe: another walkie binary (`--before`, e.g. main's build; the memory benchmark's lone
        # copy runs the host in-process), host and client both.
        self.exe = exe or WALKIE
        self.env = dict(os.environ)
        config = os.path.join(tmp, f"{tag}.toml")
        with open(config, "w") as f:
            f.write(f"[recording]\nenabled = {'true' if record else 'false'}\n{extra}")
        self.env.update(
            WALKIE_SOCKET=os.path.join(tmp, tag, "host.sock"),
            WALKIE_STATE_DIR=os.path.join(tmp, f"{tag}state"),
            WALKIE_CONFIG=config,
        )
        self.log_path = os.path.join(tmp, f"{tag}.log")
        self.start(log=open(self.log_path, "a"))

    def start(self, log=None):
        self.host = subprocess.Popen([self.exe, "host"], env=self.env, stderr=log or subprocess.DEVNULL)
        wait_until("walkie host", lambda: self.run("ls").returncode == 0)

    def run(self, *args, check=False):
        return subprocess.run([self.exe, "--no-spawn", *args], env=self.env, capture_output=True, check=check)

    def host_exe(self):
        """The file the host process runs: `walkie host` execs walkie-host when it sits beside."""
        return os.path.basename(os.readlink(f"/proc/{self.host.pid}/exe"))

    def sessions(self):
        return json.loads(self.run("ls", "--json", check=True).stdout)

    def clients(self, name):
        return next(s["clients"] for s in self.sessions() if s["name"] == name)

    def stop(self):
        self.host.send_signal(signal.SIGTERM)
        self.host.wait(timeout=30)


class Tmux:
    def __init__(self, tmp):
        self.sock = os.path.join(tmp, "tmux.sock")

    def cmd(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args], capture_output=True, check=check)

    def server_pid(self):
        return int(self.cmd("display-message", "-p", "#{pid}").stdout)

    def stop(self):
        self.cmd("kill-server", check=False)


def make_text(path, mb):
    line = ("the quick brown fox jumps over the lazy dog 0123456789 " * 2)[:99] + "\n"
    block = line.encode() * 10486  # ~1 MiB
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(block)


def throughput(args):
    # A sandboxed session has a private /tmp: with --sandbox the text lives under target/,
    # which the workspace profile lets it read.
    tmp = tempfile.mkdtemp(prefix="wkb", dir=os.path.join(ROOT, "target") if args.sandbox else None)
    text = os.path.join(tmp, "big.txt")
    make_text(text, args.mb)
    size = os.path.getsize(text)
    # With --recording: the same host with recording off, beside the default (on).
    hosts = [("walkie attach", Walkie(tmp))]
    if args.recording:
        hosts = [("walkie attach, recording on", hosts[0][1]),
                 ("walkie attach, recording off", Walkie(tmp, record=False, tag="n"))]
    # With --sandbox: a host whose sessions run in the workspace boundary (bwrap + seccomp +
    # Landlock, network allowlist with its proxy), beside the unsandboxed one.
    if args.before:
        hosts.append(("walkie attach, before", Walkie(tmp, tag="b", exe=args.before)))
    if args.sandbox:
        hosts = [("walkie attach, no sandbox", hosts[0][1]),
                 ("walkie attach, sandbox workspace",
                  Walkie(tmp, tag="s", extra='[sandbox]\ndefault_profile = "workspace"\nrequired = true\n'))]
    t = Tmux(tmp)
    results = {k: [] for k, _ in hosts}
    results.update({"tmux attach": [], "script in script": [], "one PTY (cat)": []})
    # CPU seconds (user + sys, every thread) of each walkie host during its runs.
    cpu = {k: [] for k, _ in hosts}
    # ... and of its recorder thread alone.
    rec_cpu = {k: [] for k, _ in hosts}
    loads = []
    try:
        for run in range(args.runs):
            loads.append(os.getloadavg()[0])
            # walkie and tmux: the session waits for "go", so the timer starts with a client
            # attached.
            name = f"tp{run}"
            for label, w in hosts:
                w.run("new", name, "--", "sh", "-c", f"read go; cat {text}", check=True)
                c0 = cpu_ticks(w.host.pid)
                r0 = thread_ticks(w.host.pid, "walkie-rec")
                results[label].append(
                    timed_client(
                        spawn_pty([w.exe, "--no-spawn", "attach", name], env=w.env),
                        attached=lambda: w.clients(name) == 1,
                        start=lambda: w.run("send", name, "go", check=True),
                    )
                )
                cpu[label].append((cpu_ticks(w.host.pid) - c0) / os.sysconf("SC_CLK_TCK"))
                rec_cpu[label].append((thread_ticks(w.host.pid, "walkie-rec") - r0) / os.sysconf("SC_CLK_TCK"))
            t.cmd("new-session", "-d", "-s", name, "-x", str(COLS), "-y", str(ROWS), f"sh -c 'read go; cat {text}'")
            results["tmux attach"].append(
                timed_client(
                    spawn_pty(["tmux", "-S", t.sock, "attach", "-t", name]),
                    attached=lambda: t.cmd("list-clients", "-t", name, check=False).stdout.strip(),
                    start=lambda: t.cmd("send-keys", "-t", name, "go", "Enter"),
                )
            )

            # Two raw PTYs in series, and one.
            t0 = time.monotonic()
            drain(*spawn_pty(["script", "-qfc", f"script -qfc 'cat {text}' /dev/null", "/dev/null"]))
            results["script in script"].append(time.monotonic() - t0)
            t0 = time.monotonic()
            drain(*spawn_pty(["cat", text]))
            results["one PTY (cat)"].append(time.monotonic() - t0)
        same = same_screen_after_flood(hosts[0][1], t, text)
        gaps = recording_gaps(hosts[0][1])
    finally:
        for _, w in hosts:
            w.stop()
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(results["tmux attach"])
    print(f"\n{size / 1e6:.0f} MB of text, {args.runs} runs, median wall time, "
          f"load average {min(loads):.1f} to {max(loads):.1f}\n")
    print("| path | median s | MB/s | throughput vs tmux |")
    print("| --- | --- | --- | --- |")
    for k, v in results.items():
        m = statistics.median(v)
        print(f"| {k} | {m:.2f} | {size / 1e6 / m:.0f} | {base / m:.2f}x |")
    bare = statistics.median(results["one PTY (cat)"])
    walkie = statistics.median(results[hosts[0][0]])
    print(f"\n{hosts[0][0]} vs one PTY: {bare / walkie:.2f}x; "
          f"screen after the flood {'identical to' if same else 'DIFFERENT from'} tmux's")
    print("\n| walkie host | median CPU s (user + sys) | of it the recorder thread | median wall s |")
    print("| --- | --- | --- | --- |")
    for k, v in cpu.items():
        print(f"| {k} | {statistics.median(v):.2f} | {statistics.median(rec_cpu[k]):.2f} | "
              f"{statistics.median(results[k]):.2f} |")
    if args.recording:
        on, off = (statistics.median(results[k]) for k, _ in hosts)
        con, coff = (statistics.median(cpu[k]) for k, _ in hosts)
        print(f"\nrecording costs {100 * (on / off - 1):.1f} % wall, {100 * (con / coff - 1):.1f} % host CPU; "
              f"gap markers in the recordings: {gaps}")


def recording_gaps(w):
    """How often the recorder fell behind (a gap marker in the recording), from the host log."""
    with open(w.log_path, errors="replace") as f:
        return f.read().count("the recorder is behind")


def trimmed(screen):
    lines = [l.rstrip() for l in screen.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def same_screen_after_flood(w, t, text):
    """The same flood into a walkie and a tmux session; whether the screens after it match."""
    cmd = f"cat {text}; printf 'flood-done\\n'; exec cat"
    w.run("new", "same", "--", "sh", "-c", cmd, check=True)
    t.cmd("new-session", "-d", "-s", "same", "-x", str(COLS), "-y", str(ROWS), cmd)
    ws = wait_until("walkie flood", lambda: (lambda s: "flood-done" in s and s)(
        w.run("screen", "same").stdout.decode()), timeout=600)
    ts = wait_until("tmux flood", lambda: (lambda s: "flood-done" in s and s)(
        t.cmd("capture-pane", "-p", "-t", "same").stdout.decode()), timeout=600)
    if trimmed(ws) != trimmed(ts):
        print("walkie screen:\n" + ws + "\ntmux screen:\n" + ts, file=sys.stderr)
    return trimmed(ws) == trimmed(ts)


def latency(args):
    tmp = tempfile.mkdtemp(prefix="wkb")
    w, t = Walkie(tmp), Tmux(tmp)
    before = Walkie(tmp, tag="b", exe=args.before) if args.before else None
    out = {}
    try:
        w.run("new", "lat", "--", "cat", check=True)
        t.cmd("new-session", "-d", "-s", "lat", "-x", str(COLS), "-y", str(ROWS), "cat")
        cases = [
            ("bare PTY (cat)", ["cat"], None),
            ("walkie attach", [WALKIE, "--no-spawn", "attach", "lat"], w.env),
            ("tmux attach", ["tmux", "-S", t.sock, "attach", "-t", "lat"], None),
        ]
        if before:
            before.run("new", "lat", "--", "cat", check=True)
            cases.append(("walkie attach, before", [before.exe, "--no-spawn", "attach", "lat"], before.env))
        # In rounds, the cases in turn, so that a change of the machine's load (it is shared)
        # falls on every path alike and the ratios stay fair.
        loads = []
        per_round = max(1, args.keys // args.rounds)
        for _ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for label, argv, env in cases:
                out.setdefault(label, []).extend(echo_samples(label, argv, env, per_round))
    finally:
        w.stop()
        if before:
            before.stop()
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nkeystroke to echo, {per_round * args.rounds} keys each in {args.rounds} rounds, "
          f"load average {min(loads):.1f} to {max(loads):.1f}\n")
    echo_table(out, "tmux attach")


def echo_samples(label, argv, env, keys):
    """Seconds from each of `keys` keystrokes into a client in a new PTY (its session runs
    `cat`) until the key's echo is back."""
    pid, fd = spawn_pty(argv, env=env)
    # Settle: wait for the client's first output (it is connected and its terminal raw; an
    # ssh login takes a while and says nothing), then for the repaint to stop arriving.
    # A bare `cat` paints nothing: only the clients are waited for.
    if argv != ["cat"] and not select.select([fd], [], [], 60)[0]:
        raise SystemExit(f"{label}: no repaint")
    while select.select([fd], [], [], 0.5)[0]:
        os.read(fd, 1 << 16)
    samples = []
    for i in range(keys):
        ch = b"abcdefghijklmnopqrstuvwxyz"[i % 26 : i % 26 + 1]
        t0 = time.perf_counter()
        os.write(fd, ch)
        got = b""
        while ch not in got:
            r, _, _ = select.select([fd], [], [], 5)
            if not r:
                raise SystemExit(f"{label}: no echo")
            got += os.read(fd, 1 << 16)
        samples.append(time.perf_counter() - t0)
        if i % 60 == 59:
            os.write(fd, b"\r")
            while select.select([fd], [], [], 0.05)[0]:
                os.read(fd, 1 << 16)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(fd)
    return samples


def echo_table(out, ref):
    base = statistics.median(out[ref])
    print("| path | median ms | p95 ms | median vs " + ref + " |")
    print("| --- | --- | --- | --- |")
    for k, v in out.items():
        v = sorted(v)
        med, p95 = statistics.median(v), v[int(len(v) * 0.95)]
        print(f"| {k} | {med * 1e3:.3f} | {p95 * 1e3:.3f} | {med / base:.2f}x |")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_parts(pid):
    """(anonymous, file-backed) RSS in KiB: file-backed pages are the program's code and
    libraries, shared with every process that maps the same files (page cache)."""
    got = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("RssAnon", "RssFile"):
                got[k] = int(line.split()[1])
    return got.get("RssAnon", 0), got.get("RssFile", 0)


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def memory(args):
    tmp = tempfile.mkdtemp(prefix="wkb")
    w, t = Walkie(tmp), Tmux(tmp)
    # The reference for the slim host: the whole walkie binary running the host in its own
    # process, as a lone copy does (no walkie-host beside it).
    full = None
    if args.full:
        os.makedirs(os.path.join(tmp, "lone"))
        lone = os.path.join(tmp, "lone", "walkie")
        shutil.copy(WALKIE, lone)
        full = Walkie(tmp, tag="f", exe=lone)
    rows, full_rows = [], []
    load = os.getloadavg()[0]
    try:
        for i in range(args.sessions):
            w.run("new", f"idle{i}", "--", "cat", check=True)
            t.cmd("new-session", "-d", "-s", f"idle{i}", "-x", str(COLS), "-y", str(ROWS), "cat")
            if full:
                full.run("new", f"idle{i}", "--", "cat", check=True)
            if i == 0:
                tpid = t.server_pid()
                one = (rss_kb(w.host.pid), rss_kb(tpid), threads(w.host.pid), threads(tpid))
                if full:
                    full_rows.append(rss_kb(full.host.pid))
        rows.append(("1 idle session", *one[:2]))
        rows.append((f"{args.sessions} idle sessions", rss_kb(w.host.pid), rss_kb(tpid)))
        many = (rows[-1][1], rows[-1][2], threads(w.host.pid), threads(tpid))
        parts = (rss_parts(w.host.pid), rss_parts(tpid))
        exe = w.host_exe()
        if full:
            full_rows.append(rss_kb(full.host.pid))
            full_parts = rss_parts(full.host.pid)
            full.stop()
            full = None
        per = int(args.gb * 1000 / 10)
        for i in range(10):
            cmd = f"head -c {per}000000 /dev/zero | tr '\\0' 'y' | fold -w 100; echo flood-done"
            w.run("new", f"flood{i}", "--", "sh", "-c", cmd, check=True)
            t.cmd("new-session", "-d", "-s", f"flood{i}", "-x", str(COLS), "-y", str(ROWS), cmd + "; sleep 100000")
        for i in range(10):
            wait_until(
                f"walkie flood{i}",
                lambda: "flood-done" in w.run("screen", f"flood{i}").stdout.decode(),
                timeout=600,
            )
            wait_until(
                f"tmux flood{i}",
                lambda: "flood-done" in t.cmd("capture-pane", "-p", "-t", f"flood{i}").stdout.decode(),
                timeout=600,
            )
        rows.append((f"after {args.gb} GB over 10 more sessions", rss_kb(w.host.pid), rss_kb(tpid)))
    finally:
        if full:
            full.stop()
        w.stop()
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nhost RSS (walkie's host runs {exe}; walkie: 1 MiB scrollback per session; tmux: its "
          f"default 2000-line history), load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end\n")
    print("| state | walkie host MiB | tmux server MiB | walkie / tmux |")
    print("| --- | --- | --- | --- |")
    for label, wk, tk in rows:
        print(f"| {label} | {wk / 1024:.1f} | {tk / 1024:.1f} | {wk / max(tk, 1):.2f}x |")
    n = max(args.sessions - 1, 1)
    print(f"\nper idle session beyond the first: walkie {(many[0] - one[0]) / n:.1f} KiB, "
          f"tmux {(many[1] - one[1]) / n:.1f} KiB; "
          f"threads with 1 and {args.sessions} sessions: walkie {one[2]} and {many[2]}, "
          f"tmux {one[3]} and {many[3]}")
    (wa, wf), (ta, tf) = parts
    print(f"\nwith {args.sessions} idle sessions, anonymous / file-backed RSS: walkie {wa / 1024:.1f} / "
          f"{wf / 1024:.1f} MiB, tmux {ta / 1024:.1f} / {tf / 1024:.1f} MiB; anonymous walkie / tmux "
          f"{wa / max(ta, 1):.2f}x")
    if full_rows:
        fa, ff = full_parts
        print(f"\nthe whole walkie binary running the host in-process (a lone copy), same run: "
              f"1 idle session {full_rows[0] / 1024:.1f} MiB, {args.sessions} idle sessions "
              f"{full_rows[1] / 1024:.1f} MiB ({full_rows[1] / max(many[1], 1):.2f}x tmux; "
              f"{exe} / whole walkie {many[0] / max(full_rows[1], 1):.2f}x), anonymous / file-backed "
              f"{fa / 1024:.1f} / {ff / 1024:.1f} MiB")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def thread_ticks(pid, name):
    """utime + stime of the host's threads called `name` (the recorder: walkie-rec)."""
    n = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                comm, rest = f.read().split("(", 1)[1].rsplit(")", 1)
        except FileNotFoundError:
            continue
        if comm == name:
            fields = rest.split()
            n += int(fields[11]) + int(fields[12])
    return n


def wakeups(pid):
    n = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        except FileNotFoundError:
            pass
    return n


def idle(args):
    tmp = tempfile.mkdtemp(prefix="wkb")
    w, t = Walkie(tmp), Tmux(tmp)
    try:
        for i in range(args.sessions):
            w.run("new", f"idle{i}", "--", "cat", check=True)
            t.cmd("new-session", "-d", "-s", f"idle{i}", "-x", str(COLS), "-y", str(ROWS), "cat")
        tpid = t.server_pid()
        time.sleep(2)  # let the start settle
        pids = {f"walkie host ({w.host_exe()})": w.host.pid, "tmux server": tpid}
        load0 = os.getloadavg()[0]
        before = {k: (cpu_ticks(p), wakeups(p)) for k, p in pids.items()}
        time.sleep(args.seconds)
        after = {k: (cpu_ticks(p), wakeups(p)) for k, p in pids.items()}
        load1 = os.getloadavg()[0]
    finally:
        w.stop()
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    hz = os.sysconf("SC_CLK_TCK")
    print(f"\n{args.sessions} idle sessions (`cat`), {args.seconds} s, "
          f"load average {load0:.1f} to {load1:.1f}\n")
    print("| process | CPU % of one core | context switches / s |")
    print("| --- | --- | --- |")
    for k in pids:
        ticks = after[k][0] - before[k][0]
        print(f"| {k} | {100 * ticks / hz / args.seconds:.2f} | "
              f"{(after[k][1] - before[k][1]) / args.seconds:.1f} |")


def process_tree(root):
    """root and every process below it, from /proc."""
    parents = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parents.append((int(e), int(stat[stat.rfind(")") + 2 :].split()[1])))
    out, i = [root], 0
    while i < len(out):
        out.extend(c for c, p in parents if p == out[i])
        i += 1
    return out


STAND_IN = """#!/bin/sh
echo "stand-in claude $*"
exec sleep 100000
"""


def revive(args):
    """A reboot under N agent sessions (a stand-in named `claude` with a real transcript each,
    so walkie's own work is measured, not an agent's start-up): SIGSTOP then SIGKILL of the
    host and every process of its sessions, a new host, until every session is resumed and
    on screen. Reference, same run: the same N sessions started from scratch (`walkie new`
    each) on a fresh host."""
    n = args.sessions
    revived, fresh, host_ms, loads = [], [], [], []
    for run in range(args.runs):
        tmp = tempfile.mkdtemp(prefix="wkb")
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        claude = os.path.join(tmp, "claude")
        with open(claude, "w") as f:
            f.write(STAND_IN)
        os.chmod(claude, 0o755)
        w = Walkie(tmp, tag="r", extra='[host]\nrevive = "agents"\n')
        w.env["HOME"] = home
        w.stop()
        w.start()
        cwds = []
        for i in range(n):
            cwd = os.path.join(tmp, f"p{i}")
            os.makedirs(cwd)
            cwds.append(cwd)
            w.run("new", f"a{i}", "--cwd", cwd, "--", claude, check=True)
        for s in w.sessions():
            i = int(s["name"][1:])
            project = os.path.join(home, ".claude", "projects",
                                   "".join(c if c.isalnum() else "-" for c in cwds[i]))
            os.makedirs(project, exist_ok=True)
            with open(os.path.join(project, s["agent"]["id"] + ".jsonl"), "w") as f:
                f.write('{"type":"user","message":{"content":"hi"}}\n')
        tree = process_tree(w.host.pid)
        for p in tree:
            os.kill(p, signal.SIGSTOP)
        for p in tree:
            os.kill(p, signal.SIGKILL)
        w.host.wait()
        loads.append(os.getloadavg()[0])
        log_path = os.path.join(tmp, "host.log")

        def on_screen(host, needle):
            left = {f"a{i}" for i in range(n)}
            def check():
                for name in list(left):
                    if needle in host.run("screen", name).stdout.decode():
                        left.discard(name)
                return not left
            wait_until("every session on screen", check, timeout=120)

        t0 = time.monotonic()
        with open(log_path, "w") as log:
            w.start(log=log)
        on_screen(w, "--resume")
        revived.append(time.monotonic() - t0)
        with open(log_path) as f:
            line = next((l for l in f if "revival after restart done" in l), "")
        ms = re.search(r"\bms=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
        if ms:
            host_ms.append(float(ms.group(1)))
        w.stop()

        # Reference: the same sessions started afresh on a new host.
        f2 = Walkie(tmp, tag="f")
        f2.env["HOME"] = home
        t0 = time.monotonic()
        for i in range(n):
            f2.run("new", f"a{i}", "--cwd", cwds[i], "--", claude, check=True)
        on_screen(f2, "stand-in claude")
        fresh.append(time.monotonic() - t0)
        f2.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    r, f = statistics.median(revived), statistics.median(fresh)
    print(f"\n{n} agent sessions, {args.runs} runs, median, load average {min(loads):.1f} to {max(loads):.1f}\n")
    print("| path | median s | vs a fresh start |")
    print("| --- | --- | --- |")
    print(f"| host start after a reboot to every session resumed and on screen | {r:.3f} | {r / f:.2f}x |")
    if host_ms:
        print(f"| of which the host's revival (its log: claimed, checked, started) | {statistics.median(host_ms) / 1000:.3f} | |")
    print(f"| reference: {n} x `walkie new` on a fresh host, to every session on screen | {f:.3f} | 1.00x |")


class Sshd:
    """A private sshd on 127.0.0.1 (as tests/support/sshd.rs): its own host key, one client
    key, the box every remote path of `remote` goes through."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "sshd")
        os.makedirs(self.dir)
        os.makedirs("/run/sshd", exist_ok=True)
        self.host_key = os.path.join(self.dir, "host_key")
        self.key = os.path.join(self.dir, "client_key")
        for k in (self.host_key, self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k], check=True)
        shutil.copy(self.key + ".pub", os.path.join(self.dir, "authorized_keys"))
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.config = os.path.join(self.dir, "sshd_config")
        with open(self.config, "w") as f:
            f.write(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
                    f"AuthorizedKeysFile {self.dir}/authorized_keys\nPidFile {self.dir}/sshd.pid\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\n"
                    "UsePAM no\nPermitTTY yes\n")
        with open(self.host_key + ".pub") as f:
            pub = " ".join(f.read().split()[:2])
        self.known_line = f"[127.0.0.1]:{self.port} {pub}\n"
        self.known = os.path.join(self.dir, "known_hosts")
        with open(self.known, "w") as f:
            f.write(self.known_line)
        self.user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        self.proc = None
        self.start()

    def listening(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def start(self):
        """Starts sshd; returns the monotonic time it accepts connections."""
        self.log = open(os.path.join(self.dir, "sshd.log"), "a")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", self.config],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        wait_until("sshd to listen", self.listening, timeout=20)
        return time.monotonic()

    def stop(self):
        """Kills sshd and every connection it serves (a box going away). Only the sshd
        processes: the sessions' commands end on their own (EOF, SIGHUP), as a SIGKILL could
        catch a login shell in pyenv's rehash and leave its lock behind for every later login
        (60 s each)."""
        if not self.proc:
            return
        os.kill(self.proc.pid, signal.SIGSTOP)  # no new connection forked meanwhile
        for p in process_tree(self.proc.pid):
            try:
                with open(f"/proc/{p}/comm") as f:
                    if not f.read().strip().startswith("sshd"):
                        continue
                os.kill(p, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
        self.proc.wait()
        self.proc = None
        self.log.close()

    def ssh(self, remote, tty=True):
        return ["ssh", *(["-tt"] if tty else []), "-i", self.key, "-p", str(self.port),
                "-o", f"UserKnownHostsFile={self.known}", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"{self.user}@127.0.0.1", remote]


def env_prefix(w):
    keys = ("WALKIE_SOCKET", "WALKIE_STATE_DIR", "WALKIE_CONFIG")
    return "env " + " ".join(f"{k}={w.env[k]}" for k in keys)


FAKE_ME = {"id": 1, "is_bot": True, "first_name": "walkie", "username": "bench_bot",
           "can_join_groups": False, "can_read_all_group_messages": False,
           "supports_inline_queries": False, "can_connect_to_business": False,
           "has_main_web_app": False}


def fake_telegram():
    """The least Bot API `walkie up` needs to run with nobody talking to it: who it is, its
    command menu, empty long polls; every message it tries to send is refused (nobody
    started a chat with it). Returns the server's base URL."""
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            method = self.path.rsplit("/", 1)[-1].lower()
            if method == "getme":
                out = {"ok": True, "result": FAKE_ME}
            elif method == "getupdates":
                try:
                    timeout = min(int(json.loads(body or b"{}").get("timeout", 0)), 2)
                except ValueError:
                    timeout = 0
                time.sleep(timeout)
                out = {"ok": True, "result": []}
            elif method in ("setmycommands", "deletewebhook"):
                out = {"ok": True, "result": True}
            else:
                out = {"ok": False, "error_code": 403,
                       "description": "Forbidden: bot can't initiate conversation with a user"}
            data = json.dumps(out).encode()
            self.send_response(200 if out["ok"] else 403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except BrokenPipeError:
                pass  # the bot gave up on a long poll (it is stopping)

        do_GET = do_POST

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}"


def log_times(path, needle):
    """The wall-clock times (epoch s) of the bot log's lines containing `needle`."""
    import datetime
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            if needle in line:
                stamp = line.split()[0].rstrip("Z")
                out.append(datetime.datetime.fromisoformat(stamp).replace(
                    tzinfo=datetime.timezone.utc).timestamp())
    return out


def remote(args):
    """Several hosts: one loopback sshd in front of a `walkie host` (the box) and a tmux
    server on the same box; at home a walkie with `[hosts.cloud]` through that sshd."""
    tmp = tempfile.mkdtemp(prefix="wkb")
    box, t = Walkie(tmp, tag="box"), Tmux(tmp)
    sshd = Sshd(tmp)
    bridge = f"{env_prefix(box)} {WALKIE} --no-spawn bridge --stdio"
    home = Walkie(tmp, tag="home", extra=(
        f'[hosts.cloud]\nssh = "{sshd.user}@127.0.0.1:{sshd.port}"\nkey = "{sshd.key}"\n'
        f'bridge = "{bridge}"\n'))
    ssh_dir = os.path.join(home.env["WALKIE_STATE_DIR"], "ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(ssh_dir, "known_hosts"), "w") as f:
        f.write(sshd.known_line)
    os.chmod(os.path.join(ssh_dir, "known_hosts"), 0o600)
    home.env["TERM"] = box.env["TERM"] = os.environ["TERM"] = "xterm-256color"
    text = os.path.join(tmp, "big.txt")
    make_text(text, args.mb)
    size = os.path.getsize(text)
    loads = [os.getloadavg()[0]]
    bot = None
    via = lambda name: [WALKIE, "attach", f"{name}@cloud"]
    ssh_walkie = lambda name: sshd.ssh(f"{env_prefix(box)} {WALKIE} --no-spawn attach {name}")
    ssh_tmux = lambda name: sshd.ssh(f"tmux -S {t.sock} attach -t {name}")
    echo, through = {}, {}
    reconnect, ssh_fresh = [], []

    def bench_paths(paths):
        for label, argv, env in paths:
            echo[label] = echo_samples(label, argv(f"lat"), env, args.keys)
            loads.append(os.getloadavg()[0])
        for run in range(args.runs):
            for label, argv, env in paths:
                name = f"tp{len(through.get(label, []))}{abs(hash(label)) % 1000}"
                through.setdefault(label, [])
                if "tmux" in label:
                    t.cmd("new-session", "-d", "-s", name, "-x", str(COLS), "-y", str(ROWS),
                          f"sh -c 'read go; cat {text}'")
                    attached = lambda: t.cmd("list-clients", "-t", name, check=False).stdout.strip()
                    start = lambda: t.cmd("send-keys", "-t", name, "go", "Enter")
                else:
                    box.run("new", name, "--", "sh", "-c", f"read go; cat {text}", check=True)
                    attached = lambda: box.clients(name) == 1
                    start = lambda: box.run("send", name, "go", check=True)
                through[label].append(timed_client(spawn_pty(argv(name), env=env), attached, start))
            loads.append(os.getloadavg()[0])

    try:
        box.run("new", "lat", "--", "cat", check=True)
        t.cmd("new-session", "-d", "-s", "lat", "-x", str(COLS), "-y", str(ROWS), "cat")
        # Without `walkie up`: the CLI's own ssh link.
        bench_paths([
            ("walkie attach api@cloud (its own ssh link)", via, home.env),
            ("ssh -t box walkie attach api", ssh_walkie, None),
            ("ssh -t box tmux attach", ssh_tmux, None),
        ])
        # With `walkie up`: through its relay and its one connection.
        bot_log = os.path.join(tmp, "bot.log")
        bot_env = dict(home.env, TELEGRAM_BOT_TOKEN="123456:bench", WALKIE_ALLOWED_USERS="1",
                       WALKIE_TELEGRAM_API_URL=fake_telegram(), RUST_LOG="info")
        with open(bot_log, "w") as log:
            bot = subprocess.Popen([WALKIE, "--no-spawn", "up"], env=bot_env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=log)
        relay = os.path.join(os.path.dirname(home.env["WALKIE_SOCKET"]), "hosts", "cloud.sock")
        try:
            wait_until("walkie up's link to cloud",
                       lambda: log_times(bot_log, "watching approval requests host=cloud"), timeout=60)
        except SystemExit:
            with open(bot_log, errors="replace") as f:
                print(f.read()[-3000:], file=sys.stderr)
            raise
        wait_until("the relay socket", lambda: os.path.exists(relay), timeout=30)
        bench_paths([("walkie attach api@cloud (through walkie up's link)", via, home.env)])
        relayed = len(log_times(bot_log, "relaying a CLI connection"))
        # Reconnect: sshd killed with its connections, then started again; from the moment
        # it accepts to the bot's "ssh link up". Reference: a fresh OpenSSH login then.
        for i in range(args.reconnects):
            ups = len(log_times(bot_log, "ssh link up"))
            sshd.stop()
            wait_until("the link down", lambda: len(log_times(bot_log, "ssh link down")) > i or
                       len(log_times(bot_log, "ssh link lost")) > i, timeout=30)
            time.sleep(1.0 + 0.37 * i)  # land at different points of the backoff
            sshd.start()
            ready = time.time()
            wait_until("the link up again", lambda: len(log_times(bot_log, "ssh link up")) > ups, timeout=30)
            reconnect.append(log_times(bot_log, "ssh link up")[-1] - ready)
            t0 = time.monotonic()
            subprocess.run(sshd.ssh("true", tty=False), check=True, capture_output=True,
                           stdin=subprocess.DEVNULL)
            ssh_fresh.append(time.monotonic() - t0)
        loads.append(os.getloadavg()[0])
    finally:
        if bot:
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(timeout=30)
            except subprocess.TimeoutExpired:
                bot.kill()
        for w in (home, box):
            w.stop()
        t.stop()
        sshd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nall over one loopback sshd; load average {min(loads):.1f} to {max(loads):.1f}\n")
    print(f"keystroke to echo, {args.keys} keys each into `cat`\n")
    echo_table(echo, "ssh -t box tmux attach")
    base = statistics.median(through["ssh -t box tmux attach"])
    print(f"\n{size / 1e6:.0f} MB of text, {args.runs} runs, median wall time\n")
    print("| path | median s | MB/s | throughput vs ssh + tmux |")
    print("| --- | --- | --- | --- |")
    for k, v in through.items():
        m = statistics.median(v)
        print(f"| {k} | {m:.2f} | {size / 1e6 / m:.0f} | {base / m:.2f}x |")
    print(f"\n(walkie up relayed {relayed} CLI connections over its one ssh connection)\n")
    print(f"reconnect, {args.reconnects} cuts: sshd accepting again to walkie up's link up\n")
    print("| path | median s | max s |")
    print("| --- | --- | --- |")
    print(f"| walkie up's link (backoff 250 ms doubling to 3 s, with jitter) | {statistics.median(reconnect):.3f} | {max(reconnect):.3f} |")
    print(f"| reference: one fresh `ssh box true` right after | {statistics.median(ssh_fresh):.3f} | {max(ssh_fresh):.3f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("throughput")
    a.add_argument("--mb", type=int, default=200)
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--recording", action="store_true", help="also a host with recording off")
    a.add_argument("--sandbox", action="store_true", help="also a host whose sessions are sandboxed (workspace)")
    a.add_argument("--before", help="another walkie binary measured beside, e.g. main's build")
    a = sub.add_parser("latency")
    a.add_argument("--keys", type=int, default=300)
    a.add_argument("--rounds", type=int, default=3, help="the paths take turns this many times")
    a.add_argument("--before", help="another walkie binary measured beside, e.g. main's build")
    a = sub.add_parser("memory")
    a.add_argument("--sessions", type=int, default=100)
    a.add_argument("--gb", type=float, default=1.0)
    a.add_argument("--full", action="store_true",
                   help="also measure the whole walkie binary running the host in-process")
    a = sub.add_parser("revive")
    a.add_argument("--sessions", type=int, default=20)
    a.add_argument("--runs", type=int, default=3)
    a = sub.add_parser("remote")
    a.add_argument("--keys", type=int, default=300)
    a.add_argument("--mb", type=int, default=50)
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--reconnects", type=int, default=5)
    a = sub.add_parser("idle")
    a.add_argument("--sessions", type=int, default=100)
    a.add_argument("--seconds", type=int, default=60)
    args = p.parse_args()
    if not os.path.exists(WALKIE):
        sys.exit(f"{WALKIE} not found: cargo build --release -p walkie")
    modes = {"throughput": throughput, "latency": latency, "memory": memory, "revive": revive, "idle": idle,
             "remote": remote}
    modes[args.what](args)


if __name__ == "__main__":
    main()
