"""cmkwatch-analyzer under systemd's notification protocol, with a real
AF_UNIX datagram socket where systemd would bind it: READY=1 once it
listens, WATCHDOG=1 from its receive loop at half the WatchdogSec interval,
STOPPING=1 on SIGTERM, and a clean exit.

    notify_test.py ANALYZER_BINARY
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def main() -> int:
    analyzer = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="cmkwatch-notify-") as tmp:
        path = os.path.join(tmp, "notify")
        systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        systemd.bind(path)
        systemd.settimeout(15)
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
        env.pop("WATCHDOG_PID", None)
        with open(os.path.join(tmp, "analyzer.log"), "wb") as log:
            proc = subprocess.Popen(
                [analyzer, "--db", os.path.join(tmp, "t.db"), "--bind", "ipc://" + os.path.join(tmp, "a.sock"),
                 "--http", ""], env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                ready = systemd.recv(4096).decode()
                if not ready.startswith("READY=1\nSTATUS=listening on ipc://"):
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
    print("notify_test: READY=1, %d watchdog pings, STOPPING=1, exit 0" % pings)
    return 0


def fail(tmp: str, why: str) -> int:
    print("notify_test: " + why, file=sys.stderr)
    with open(os.path.join(tmp, "analyzer.log"), "rb") as log:
        sys.stderr.write(log.read().decode(errors="replace"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
