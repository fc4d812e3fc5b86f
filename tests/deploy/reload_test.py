"""SIGHUP reload of a running cmkwatch-analyzer, with real processes: a
collector feeding it over ZeroMQ, file sinks as the alert receivers, and a
real systemd notification socket to watch RELOADING=1 / READY=1.

What an operator relies on:
  * a reload adds a sink without a restart: changes committed after it
    reach the new sink (and only those: no flood of history), and the old
    sink keeps receiving;
  * the link stays up: events sent after the reload are stored;
  * a bad file is refused, the log says why, and the running
    configuration stays in force.

    reload_test.py ANALYZER COLLECTOR CLI SAMPLES_DIR
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ANALYZER, COLLECTOR, CLI, SAMPLES = sys.argv[1:5]


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def wait_for(what, pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cmkwatch-reload-") as tmp:
        cfg = os.path.join(tmp, "analyzer.yaml")
        endpoint = "ipc://" + os.path.join(tmp, "a.sock")
        base = "db: timeline.db\nbind: %s\nhttp: \"\"\nalerts:\n  sinks:\n" % endpoint
        sink_a = "    - { name: a, type: file, path: a.jsonl }\n"
        sink_b = "    - { name: b, type: file, path: b.jsonl }\n"
        with open(cfg, "w") as f:
            f.write(base + sink_a)
        notify = os.path.join(tmp, "notify")
        systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        systemd.bind(notify)
        systemd.settimeout(20)
        log_path = os.path.join(tmp, "analyzer.log")
        log = open(log_path, "wb")
        env = dict(os.environ, NOTIFY_SOCKET=notify)
        analyzer = subprocess.Popen([ANALYZER, "--config", cfg], env=env, stdout=log, stderr=subprocess.STDOUT)

        def next_state():
            while True:
                m = systemd.recv(4096).decode()
                if m != "WATCHDOG=1":
                    return m

        def feed(name, path, data=b""):
            # Every file under `path` (or `data`) on the collector's stdin:
            # it exits once the analyzer has acknowledged all of it.
            for root, _, files in sorted(os.walk(path or tmp)) if path else []:
                for fn in sorted(files):
                    with open(os.path.join(root, fn), "rb") as f:
                        data += f.read() + b"\n"
            r = subprocess.run([COLLECTOR, "--connect", endpoint, "--spool", os.path.join(tmp, name + ".spool"),
                                "--id", name, "--exit-when-drained", "-"], input=data, capture_output=True,
                               timeout=60)
            assert r.returncode == 0, "collector %s: %s" % (name, r.stderr.decode())

        def stored():
            r = subprocess.run([CLI, "timeline", "--db", os.path.join(tmp, "timeline.db"), "--json", "--limit",
                                "100000"], capture_output=True)
            return len(r.stdout.splitlines()) if r.returncode == 0 else 0

        try:
            assert next_state().startswith("READY=1"), "no READY=1 at start"
            feed("inventory", os.path.join(SAMPLES, "inventory"))
            feed("activity", os.path.join(SAMPLES, "insights-activity-logs"))
            wait_for("alerts in sink a", lambda: len(lines(os.path.join(tmp, "a.jsonl"))) > 0)
            time.sleep(0.5)  # let the first burst settle
            before = max(l["seq"] for l in lines(os.path.join(tmp, "a.jsonl")))
            events_before = stored()

            # 1. a good file with a second sink and a suppression
            rules = ('rules:\n  suppressions:\n    - { rule: CMK001, resources: "*", '
                     'reason: planned key cleanup (CHG-1), expires: 2027-03-31 }\n')
            with open(cfg, "w") as f:
                f.write(base + sink_a + sink_b + rules)
            analyzer.send_signal(signal.SIGHUP)
            assert next_state() == "RELOADING=1", "no RELOADING=1"
            state = next_state()
            assert state.startswith("READY=1\nSTATUS=reloaded"), "after reload: %r" % state
            feed("audit", os.path.join(SAMPLES, "insights-logs-auditevent"))
            wait_for("events stored after the reload", lambda: stored() > events_before)
            wait_for("alerts in the new sink b", lambda: len(lines(os.path.join(tmp, "b.jsonl"))) > 0)
            b = lines(os.path.join(tmp, "b.jsonl"))
            assert all(l["seq"] > before for l in b), "sink b got history from before it was added"
            wait_for("the same changes in sink a",
                     lambda: {l["seq"] for l in b} <= {l["seq"] for l in lines(os.path.join(tmp, "a.jsonl"))})
            # The key deletion in that feed is under the new suppression:
            # recorded as suppressed, sent to no sink.
            wait_for("the suppressed CMK001 in the log", lambda: b"CMK001" in open(log_path, "rb").read())
            assert b"suppressed" in open(log_path, "rb").read(), "CMK001 was not suppressed"
            assert not any(l["alert"]["rule"] == "CMK001" for l in b + lines(os.path.join(tmp, "a.jsonl"))), \
                "a suppressed alert was sent"

            # 2. a bad file: refused, and both sinks still deliver
            with open(cfg, "w") as f:
                f.write(base + sink_a + sink_b + rules + "retension_days: 3\n")
            analyzer.send_signal(signal.SIGHUP)
            assert next_state() == "RELOADING=1"
            state = next_state()
            assert state.startswith("READY=1\nSTATUS=reload refused"), "bad file: %r" % state
            wait_for("the refusal in the log", lambda: b"reload refused" in open(log_path, "rb").read())
            assert b"retension_days" in open(log_path, "rb").read(), "the log does not say what is wrong"
            count_b = len(lines(os.path.join(tmp, "b.jsonl")))
            # The identity's unwrap succeeding again, later that day: the
            # outage alert (CMK006) resolves, and both sinks hear of it.
            unwrap = None
            for root, _, files in os.walk(os.path.join(SAMPLES, "insights-logs-auditevent")):
                for fn in files:
                    for line in open(os.path.join(root, fn)):
                        r = json.loads(line)
                        if r["operationName"] == "KeyUnwrap" and r["resultSignature"] == "OK":
                            unwrap = r
            assert unwrap, "the sample has no successful KeyUnwrap"
            unwrap["time"] = "2026-03-02T11:00:00.0000000Z"
            feed("recovery", None, json.dumps(unwrap).encode() + b"\n")
            wait_for("the outage's resolution in sink b after the refused reload",
                     lambda: any(l["change"] == "resolved" and l["alert"]["rule"] == "CMK006"
                                 for l in lines(os.path.join(tmp, "b.jsonl"))[count_b:]))
            assert analyzer.poll() is None, "the analyzer died"

            analyzer.send_signal(signal.SIGTERM)
            rc = analyzer.wait(timeout=30)
            assert rc == 0, "exit %d" % rc
        except AssertionError as e:
            print("reload_test: %s" % e, file=sys.stderr)
            log.flush()
            sys.stderr.write(open(log_path, "rb").read().decode(errors="replace")[-6000:])
            return 1
        finally:
            if analyzer.poll() is None:
                analyzer.kill()
                analyzer.wait()
    print("reload_test: sink added by SIGHUP got only new changes; bad file refused; link kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
