"""cmkwatch-analyzer and cmkwatch-collector under systemd's notification
protocol, with a real AF_UNIX datagram socket where systemd would bind it:
READY=1 once each is up, WATCHDOG=1 from its main loop at half the
WatchdogSec interval, STOPPING=1 on SIGTERM, and a clean exit.

    notify_test.py ANALYZER_BINARY COLLECTOR_BINARY
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def main() -> int:
    for which in ("analyzer", "collector"):
        rc = run(which)
        if rc != 0:
            return rc
    return 0


def run(which: str) -> int:
    analyzer, collector = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="cmkwatch-notify-") as tmp:
        path = os.path.join(tmp, "notify")
        systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        systemd.bind(path)
        systemd.settimeout(15)
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
        env.pop("WATCHDOG_PID", None)
        with open(os.path.join(tmp, "daemon.log"), "wb") as log:
            if which == "analyzer":
                argv = [analyzer, "--db", os.path.join(tmp, "t.db"), "--bind", "ipc://" + os.path.join(tmp, "a.sock"),
                        "--http", ""]
                status = "READY=1\nSTATUS=listening on ipc://"
            else:
                # No analyzer is needed to be up: the collector spools.
                os.mkdir(os.path.join(tmp, "logs"))
                argv = [collector, "--connect", "ipc://" + os.path.join(tmp, "a.sock"), "--spool",
                        os.path.join(tmp, "c.spool"), "--id", "kv-prod", os.path.join(tmp, "logs")]
                status = "READY=1\nSTATUS=collector kv-prod sending to ipc://"
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                ready = systemd.recv(4096).decode()
                if not ready.startswith(status):
                    return fail(tmp, "first message is not READY=1 with a status: %r" % ready)
                # 1 s watchdog: a ping every ~0.5 s, so at least 3 in 2.5 s.
                pings, deadline = 0, time.monotonic() + 2.5
                while time.monotonic() < deadline:
                    systemd.settimeout(max(0.05, deadline - time.monotonic()))
                    try:
                        msg = systemd.recv(4096).decode()
                    except socket.timeout:
                        break
                    if msg != "WATCHDOG=1":
                        return fail(tmp, "unexpected message while running: %r" % msg)
                    pings += 1
                if not 3 <= pings <= 7:
                    return fail(tmp, "%d watchdog pings in 2.5 s at a 1 s watchdog (want about 5)" % pings)
                proc.send_signal(signal.SIGTERM)
                systemd.settimeout(15)
                while True:
                    msg = systemd.recv(4096).decode()
                    if msg != "WATCHDOG=1":
                        break
                if msg != "STOPPING=1":
                    return fail(tmp, "after SIGTERM: %r, not STOPPING=1" % msg)
                rc = proc.wait(timeout=30)
                if rc != 0:
                    return fail(tmp, "exit status %d after SIGTERM" % rc)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    print("notify_test: %s: READY=1, %d watchdog pings, STOPPING=1, exit 0" % (which, pings))
    return 0


def fail(tmp: str, why: str) -> int:
    print("notify_test: " + why, file=sys.stderr)
    with open(os.path.join(tmp, "daemon.log"), "rb") as log:
        sys.stderr.write(log.read().decode(errors="replace"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
