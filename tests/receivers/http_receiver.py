#!/usr/bin/python3
"""A real HTTP/1.1 receiver on loopback for the alert-delivery tests.

Run with /usr/bin/python3 (stdlib only). It listens on 127.0.0.1, serves
each connection on its own thread with keep-alive, and appends one JSON line
per request to --log before it answers, so what it received survives a
SIGKILL:

  {"method": "POST", "path": "/hook", "headers": [["Host", "..."], ...],
   "body": "...", "body_encoding": "utf-8" | "base64",
   "answer": {"status": 429, "headers": [...], "body": "..."} | {"hang_s": 30},
   "status": 429 (0 when it hung)}

Answers come from --script, a JSON list re-read on every request and
consumed in order; how many are consumed is kept in <script>.state, so a
restarted receiver carries on where the killed one stopped. Each entry is
{"status": N, "headers": {name: value} or [[name, value], ...], "body": "..."}
or {"hang_s": S} (read the request, send nothing for S seconds, then close).
When the script is exhausted (or absent) the answer is --default-status
with body "ok".

The port is written to --port-file (atomically, once listening).
"""

import argparse
import base64
import json
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def write_atomically(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def header_pairs(headers):
    if headers is None:
        return []
    if isinstance(headers, dict):
        return [[str(k), str(v)] for k, v in headers.items()]
    return [[str(k), str(v)] for k, v in headers]


class Script:
    """The scripted answers and the log, both behind one lock so the log's
    order is the order answers were consumed in."""

    def __init__(self, script_path, log_path, default_status, default_body):
        self.script_path = script_path
        self.state_path = f"{script_path}.state" if script_path else None
        self.log = open(log_path, "a", encoding="utf-8")
        self.default = {"status": default_status, "headers": [], "body": default_body}
        self.lock = threading.Lock()

    def _answers(self):
        if not self.script_path:
            return []
        try:
            with open(self.script_path, encoding="utf-8") as f:
                answers = json.load(f)
        except FileNotFoundError:
            return []
        return answers if isinstance(answers, list) else []

    def _consumed(self):
        try:
            with open(self.state_path, encoding="utf-8") as f:
                return int(json.load(f)["consumed"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return 0

    def next_answer_logged(self, record):
        """Consumes the next answer, logs the request with it, returns it."""
        with self.lock:
            answers = self._answers()
            answer = self.default
            if answers:
                consumed = self._consumed()
                if consumed < len(answers):
                    answer = answers[consumed]
                    write_atomically(self.state_path, json.dumps({"consumed": consumed + 1}))
            if "hang_s" in answer:
                answer = {"hang_s": float(answer["hang_s"])}
                status = 0
            else:
                answer = {
                    "status": int(answer.get("status", 200)),
                    "headers": header_pairs(answer.get("headers")),
                    "body": str(answer.get("body", "")),
                }
                status = answer["status"]
            record["answer"] = answer
            record["status"] = status
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()
            return answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle
    # holds the body until the client's delayed ACK, 40 ms per request.
    disable_nagle_algorithm = True
    server_version = "cmkwatch-test-receiver"

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # the JSON log is the record; stderr stays for real errors

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # the CRLF after the chunk
        length = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self):
        body = self._read_body()
        try:
            body_text, encoding = body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            body_text, encoding = base64.b64encode(body).decode("ascii"), "base64"
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body_text,
            "body_encoding": encoding,
        }
        answer = self.server.script.next_answer_logged(record)
        if "hang_s" in answer:
            # Silent until the time is up (or we are killed), then the
            # connection is dropped without an answer. (A client that reused
            # a kept-alive connection may resend the request on a new one
            # when it sees that close: libcurl does.)
            time.sleep(answer["hang_s"])
            self.close_connection = True
            return
        payload = answer["body"].encode("utf-8")
        self.send_response(answer["status"])
        names = set()
        for name, value in answer["headers"]:
            self.send_header(name, value)
            names.add(name.lower())
        if "content-type" not in names:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging answer must not hold up exit
    allow_reuse_address = True  # Restart() binds the same port right after a kill

    def __init__(self, address, tls_context, script):
        self.tls_context = tls_context
        self.script = script
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, on the connection's own thread, so a
        # client that never completes one cannot stall accept().
        if self.tls_context is not None:
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # e.g. a client that rejected our certificate
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout)):
            return  # clients hanging up mid-request are part of the tests
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log", required=True)
    p.add_argument("--script")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--default-status", type=int, default=200)
    p.add_argument("--default-body", default="ok")
    args = p.parse_args()

    tls_context = None
    if args.cert or args.key:
        if not (args.cert and args.key):
            p.error("--cert and --key go together")
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    script = Script(args.script, args.log, args.default_status, args.default_body)
    server = Server(("127.0.0.1", args.port), tls_context, script)
    if args.port_file:
        write_atomically(args.port_file, f"{server.server_address[1]}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
