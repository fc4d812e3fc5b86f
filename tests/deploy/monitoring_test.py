"""The monitoring samples against a real analyzer: deploy/prometheus's rules
pass `promtool check rules`; a live /metrics (after a collector delivered
the sample incident) passes `promtool check metrics`, Prometheus' lint of
naming conventions; and every cmkwatch metric the rules and the Grafana
dashboard query exists in that scrape, so neither watches a name that was
renamed away.

    monitoring_test.py ANALYZER COLLECTOR SAMPLES RULES DASHBOARD
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ANALYZER, COLLECTOR, SAMPLES, RULES, DASHBOARD = sys.argv[1:6]
PROMTOOL = "/usr/bin/promtool"


def fail(why, log_path=None):
    print("monitoring_test: " + why, file=sys.stderr)
    if log_path and os.path.exists(log_path):
        sys.stderr.write(open(log_path, errors="replace").read()[-4000:])
    return 1


def main() -> int:
    if not os.access(PROMTOOL, os.X_OK):
        return fail(PROMTOOL + " is missing (deploy/install-deps.sh installs Debian's prometheus package)")
    r = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True)
    if r.returncode != 0:
        return fail("promtool check rules:\n" + r.stdout + r.stderr)

    with tempfile.TemporaryDirectory(prefix="cmkwatch-monitoring-") as tmp:
        log_path = os.path.join(tmp, "analyzer.log")
        endpoint = "ipc://" + os.path.join(tmp, "a.sock")
        with open(log_path, "wb") as log:
            analyzer = subprocess.Popen([ANALYZER, "--db", os.path.join(tmp, "t.db"), "--bind", endpoint,
                                         "--http", "127.0.0.1:0"], stdout=log, stderr=subprocess.STDOUT)
        try:
            port, deadline = None, time.monotonic() + 20
            while port is None and time.monotonic() < deadline:
                m = re.search(r"http_port=(\d+)", open(log_path, errors="replace").read())
                port = int(m.group(1)) if m and m.group(1) != "0" else None
                time.sleep(0.1)
            if port is None:
                return fail("the analyzer did not say its metrics port", log_path)
            # A collector following the samples, running while we scrape: its
            # status (every 2 s) is what the per-collector series show.
            with open(os.path.join(tmp, "collector.log"), "wb") as clog:
                collector = subprocess.Popen([COLLECTOR, "--connect", endpoint, "--spool",
                                              os.path.join(tmp, "c.spool"), "--id", "sample", SAMPLES],
                                             stdout=clog, stderr=subprocess.STDOUT)
            try:
                scrape, deadline = "", time.monotonic() + 30
                while time.monotonic() < deadline:
                    scrape = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
                    if ("cmkwatch_collector_spool_batches{" in scrape and "cmkwatch_alert_outbox_depth{" in scrape
                            and 'cmkwatch_alert_changes_total{change="opened"} 0' not in scrape):
                        break
                    time.sleep(0.2)
            finally:
                collector.send_signal(signal.SIGTERM)
                collector.wait(timeout=30)
        finally:
            analyzer.send_signal(signal.SIGTERM)
            analyzer.wait(timeout=30)

    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=scrape, capture_output=True, text=True)
    if lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip():
        return fail("promtool check metrics on a live /metrics:\n" + lint.stdout + lint.stderr)

    exported = set(re.findall(r"^# TYPE (cmkwatch_[a-z0-9_]+) ", scrape, re.M))
    queried = set()
    for text in (open(RULES).read(), json.dumps(json.load(open(DASHBOARD)))):
        for name in re.findall(r"cmkwatch_[a-z0-9_]+", text):
            queried.add(re.sub(r"_(bucket|sum|count)$", "", name))
    missing = sorted(queried - exported)
    if missing:
        return fail("queried by the rules or dashboard but not exported: " + ", ".join(missing))
    print("monitoring_test: rules ok; /metrics lint-clean; %d metrics queried, all exported" % len(queried))
    return 0


if __name__ == "__main__":
    sys.exit(main())
