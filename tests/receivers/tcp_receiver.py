#!/usr/bin/python3
"""A plain TCP receiver on loopback for the syslog sink's tests.

Run with /usr/bin/python3 (stdlib only). It listens on 127.0.0.1 and appends
every byte it receives to --log as it arrives (flushed per read), so the
bytes survive a SIGKILL. Connections are served concurrently; bytes of
simultaneous connections interleave in the log at read granularity, so a
test that checks framing sends over one connection at a time (as a syslog
client does).

The port is written to --port-file (atomically, once listening).
"""

import argparse
import os
import socketserver
import threading


def write_atomically(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            try:
                data = self.request.recv(65536)
            except ConnectionError:
                return
            if not data:
                return
            with self.server.log_lock:
                self.server.log.write(data)
                self.server.log.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True  # Restart() binds the same port right after a kill

    def __init__(self, address, log_path):
        self.log = open(log_path, "ab")
        self.log_lock = threading.Lock()
        super().__init__(address, Handler)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log", required=True)
    args = p.parse_args()
    server = Server(("127.0.0.1", args.port), args.log)
    if args.port_file:
        write_atomically(args.port_file, f"{server.server_address[1]}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
