#!/usr/bin/env python3
"""Session host benchmarks, each measured side by side with its reference in one run.

    cargo build --release -p walkie
    python3 session-host/benches/host_bench.py throughput [--mb 200] [--runs 3] [--recording] [--sandbox]
    python3 session-host/benches/host_bench.py latency [--keys 300]
    python3 session-host/benches/host_bench.py memory [--sessions 100] [--gb 1]
    python3 session-host/benches/host_bench.py revive [--sessions 20] [--runs 3]
    python3 session-host/benches/host_bench.py idle [--sessions 100] [--seconds 60]

Needs tmux and script (util-linux). Prints a Markdown table for docs/PERFORMANCE.md.
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
    def __init__(self, tmp, record=True, tag="w", extra=""):
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
        self.host = subprocess.Popen([WALKIE, "host"], env=self.env, stderr=log or subprocess.DEVNULL)
        wait_until("walkie host", lambda: self.run("ls").returncode == 0)

    def run(self, *args, check=False):
        return subprocess.run([WALKIE, "--no-spawn", *args], env=self.env, capture_output=True, check=check)

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
    if args.sandbox:
        hosts = [("walkie attach, no sandbox", hosts[0][1]),
                 ("walkie attach, sandbox workspace",
                  Walkie(tmp, tag="s", extra='[sandbox]\ndefault_profile = "workspace"\nrequired = true\n'))]
    t = Tmux(tmp)
    results = {k: [] for k, _ in hosts}
    results.update({"tmux attach": [], "script in script": [], "one PTY (cat)": []})
    # CPU seconds (user + sys, every thread) of each walkie host during its runs.
    cpu = {k: [] for k, _ in hosts}
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
                results[label].append(
                    timed_client(
                        spawn_pty([WALKIE, "--no-spawn", "attach", name], env=w.env),
                        attached=lambda: w.clients(name) == 1,
                        start=lambda: w.run("send", name, "go", check=True),
                    )
                )
                cpu[label].append((cpu_ticks(w.host.pid) - c0) / os.sysconf("SC_CLK_TCK"))
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
    print("\n| walkie host | median CPU s (user + sys) | median wall s |")
    print("| --- | --- | --- |")
    for k, v in cpu.items():
        print(f"| {k} | {statistics.median(v):.2f} | {statistics.median(results[k]):.2f} |")
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
    out = {}
    try:
        w.run("new", "lat", "--", "cat", check=True)
        t.cmd("new-session", "-d", "-s", "lat", "-x", str(COLS), "-y", str(ROWS), "cat")
        cases = [
            ("bare PTY (cat)", ["cat"], None),
            ("walkie attach", [WALKIE, "--no-spawn", "attach", "lat"], w.env),
            ("tmux attach", ["tmux", "-S", t.sock, "attach", "-t", "lat"], None),
        ]
        for label, argv, env in cases:
            pid, fd = spawn_pty(argv, env=env)
            # Settle: wait for the repaint to stop arriving.
            while select.select([fd], [], [], 0.5)[0]:
                os.read(fd, 1 << 16)
            samples = []
            for i in range(args.keys):
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
            out[label] = samples
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)
    finally:
        w.stop()
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(out["tmux attach"])
    print(f"\nkeystroke to echo, {args.keys} keys each\n")
    print("| path | median ms | p95 ms | median vs tmux |")
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
    rows = []
    load = os.getloadavg()[0]
    try:
        for i in range(args.sessions):
            w.run("new", f"idle{i}", "--", "cat", check=True)
            t.cmd("new-session", "-d", "-s", f"idle{i}", "-x", str(COLS), "-y", str(ROWS), "cat")
            if i == 0:
                tpid = t.server_pid()
                one = (rss_kb(w.host.pid), rss_kb(tpid), threads(w.host.pid), threads(tpid))
        rows.append(("1 idle session", *one[:2]))
        rows.append((f"{args.sessions} idle sessions", rss_kb(w.host.pid), rss_kb(tpid)))
        many = (rows[-1][1], rows[-1][2], threads(w.host.pid), threads(tpid))
        parts = (rss_parts(w.host.pid), rss_parts(tpid))
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
        w.stop()
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nhost RSS (walkie: 1 MiB scrollback per session; tmux: its default 2000-line history), "
          f"load average {load:.1f}\n")
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


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


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
        pids = {"walkie host": w.host.pid, "tmux server": tpid}
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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("throughput")
    a.add_argument("--mb", type=int, default=200)
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--recording", action="store_true", help="also a host with recording off")
    a.add_argument("--sandbox", action="store_true", help="also a host whose sessions are sandboxed (workspace)")
    a = sub.add_parser("latency")
    a.add_argument("--keys", type=int, default=300)
    a = sub.add_parser("memory")
    a.add_argument("--sessions", type=int, default=100)
    a.add_argument("--gb", type=float, default=1.0)
    a = sub.add_parser("revive")
    a.add_argument("--sessions", type=int, default=20)
    a.add_argument("--runs", type=int, default=3)
    a = sub.add_parser("idle")
    a.add_argument("--sessions", type=int, default=100)
    a.add_argument("--seconds", type=int, default=60)
    args = p.parse_args()
    if not os.path.exists(WALKIE):
        sys.exit(f"{WALKIE} not found: cargo build --release -p walkie")
    modes = {"throughput": throughput, "latency": latency, "memory": memory, "revive": revive, "idle": idle}
    modes[args.what](args)


if __name__ == "__main__":
    main()
