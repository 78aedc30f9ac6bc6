#!/usr/bin/env python3
"""Runs `cargo lambda watch` (the command line after `--`) and starts it again when a function
process under it dies.

Lambda replaces an execution environment whose process died (a crash, out of memory, a kill).
`cargo lambda watch` (1.9) does not: the dead instance stays in its pool, so every later request
for that function waits in its queue until the local gateway gives up (a 503 after 30 s), for
good. Here a function process that disappears, without another process of watch's taking its
place within a moment (a hot reload rebuilds and restarts it), makes the supervisor stop watch
and all its functions and start it again on the same port, as a fresh set of environments.

Stops watch and its functions on SIGTERM or SIGINT. Prints one line per restart (the log is
$state/functions.log).
"""

import os
import signal
import subprocess
import sys
import time

# How long a vanished function process may stay unreplaced before watch is restarted: long
# enough for watchexec to start the rebuilt binary of a hot reload (cargo runs meanwhile), short
# enough that the outage stays near Lambda's (a new environment at the next request).
GRACE_SECONDS = 1.0
TICK_SECONDS = 0.25


def children(pid):
    """The pids of the processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry))
    return found


def name_of(pid):
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return "?"


class Supervisor:
    def __init__(self, command):
        self.command = command
        self.watch = None
        self.stopping = False

    def start(self):
        # Its own process group, so watch and every function under it stop together.
        self.watch = subprocess.Popen(self.command, start_new_session=True)

    def stop_watch(self):
        """Stops watch's whole group (its functions too, even when watch itself has exited)."""
        if self.watch is None:
            return
        group = self.watch.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                self.watch.poll()
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
        self.watch.poll()

    def on_signal(self, *_):
        self.stopping = True

    def run(self):
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        self.start()
        known = {}
        vanished_at = None
        while not self.stopping:
            if self.watch.poll() is not None:
                print(f"functions-supervisor: cargo lambda watch exited ({self.watch.returncode})", flush=True)
                self.stop_watch()
                return self.watch.returncode or 1
            now = time.monotonic()
            # Names read afresh: `cargo run` becomes the function's binary when it starts it.
            current = {pid: name_of(pid) for pid in children(self.watch.pid)}
            gone = [known[pid] for pid in known if pid not in current]
            if gone and vanished_at is None:
                vanished_at, lost = now, gone
            if vanished_at is not None and len(current) >= len(known):
                vanished_at = None  # replaced (a hot reload)
            if vanished_at is not None and now - vanished_at >= GRACE_SECONDS:
                print(
                    f"functions-supervisor: function process(es) {', '.join(lost)} died and watch "
                    "does not replace them; restarting cargo lambda watch",
                    flush=True,
                )
                self.stop_watch()
                self.start()
                known, vanished_at = {}, None
                continue
            if vanished_at is None:
                known = current
            time.sleep(TICK_SECONDS)
        self.stop_watch()
        return 0


def main():
    if "--" not in sys.argv:
        print("usage: functions-supervisor.py -- cargo lambda watch ...", file=sys.stderr)
        return 2
    command = sys.argv[sys.argv.index("--") + 1 :]
    return Supervisor(command).run()


if __name__ == "__main__":
    sys.exit(main())
