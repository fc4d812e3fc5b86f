#!/usr/bin/python3
"""A real SMTP receiver on loopback for the alert-delivery tests.

Run with /usr/bin/python3, on Debian's python3-aiosmtpd (1.4.3). Exactly one
of the TLS modes:

  --starttls      offers STARTTLS (--cert/--key) and refuses MAIL before it
                  (require_starttls)
  --implicit-tls  SMTPS: TLS from the first byte
  --no-tls        offers no TLS at all, to check that a client insists on it

--auth USER:PASSWORD requires AUTH (PLAIN or LOGIN) before MAIL. With
--starttls AUTH is offered only after STARTTLS (auth_require_tls). With
--no-tls it is offered in the clear, so a client that would send its
password without TLS gets the chance to, and the attempt shows in the log.

Every message lands in --maildir as <name>.eml (the DATA bytes as received,
after dot-unstuffing) with a <name>.json sidecar
{"mail_from": ..., "rcpt_tos": [...], "auth_user": ... or null, "tls": bool},
both written atomically (the sidecar first, so an .eml always has one). Names
sort in arrival order across restarts. Every AUTH attempt is appended to
<maildir>/auth.jsonl as {"user": ..., "ok": bool, "tls": bool}.

The port is written to --port-file (atomically, once listening).
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_atomically(path, data):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def on_tls(server, session):
    # Under --implicit-tls the transport itself is TLS; session.ssl is only
    # set by STARTTLS.
    return session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None


class Maildir:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.sequence = 0
        self.auth_log = open(os.path.join(directory, "auth.jsonl"), "a", encoding="utf-8")

    def log_auth(self, user, ok, tls):
        self.auth_log.write(json.dumps({"user": user, "ok": ok, "tls": tls}) + "\n")
        self.auth_log.flush()

    async def handle_DATA(self, server, session, envelope):
        self.sequence += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self.sequence:06d}"
        auth_user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        sidecar = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "auth_user": auth_user,
            "tls": on_tls(server, session),
        }
        base = os.path.join(self.directory, name)
        write_atomically(base + ".json", json.dumps(sidecar).encode("utf-8"))
        write_atomically(base + ".eml", envelope.original_content)
        return "250 2.0.0 OK: queued as " + name


class Authenticator:
    def __init__(self, user, password, maildir):
        self.user = user.encode("utf-8")
        self.password = password.encode("utf-8")
        self.maildir = maildir

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user and auth_data.password == self.password)
        login = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else None
        self.maildir.log_auth(login, ok, on_tls(server, session))
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)  # 535, credentials invalid


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--starttls", action="store_true")
    mode.add_argument("--implicit-tls", action="store_true")
    mode.add_argument("--no-tls", action="store_true")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", metavar="USER:PASSWORD")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--maildir", required=True)
    args = p.parse_args()

    tls_context = None
    if not args.no_tls:
        if not (args.cert and args.key):
            p.error("--starttls and --implicit-tls need --cert and --key")
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    # aiosmtpd warns on every AUTH that Session.login_data is deprecated (it
    # sets it itself); stderr is kept for real errors.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    maildir = Maildir(args.maildir)
    smtp_options = {
        # A fixed name: the default, socket.getfqdn(), can wait on DNS.
        "hostname": "cmkwatch-test-receiver",
        "ident": "cmkwatch test SMTP receiver",
    }
    if args.starttls:
        smtp_options.update(tls_context=tls_context, require_starttls=True, auth_require_tls=True)
    elif args.implicit_tls:
        # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; here the
        # connection is TLS from its first byte, so the requirement holds.
        smtp_options.update(auth_require_tls=False)
    else:
        smtp_options.update(auth_require_tls=False)
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            p.error("--auth wants USER:PASSWORD")
        smtp_options.update(auth_required=True, authenticator=Authenticator(user, password, maildir))

    # Our own loop rather than aiosmtpd's Controller: the Controller needs a
    # fixed port to probe, and we want port 0 with the chosen port reported.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(maildir, loop=loop, **smtp_options),
        host="127.0.0.1", port=args.port, reuse_address=True,
        ssl=tls_context if args.implicit_tls else None))
    if args.port_file:
        port = server.sockets[0].getsockname()[1]
        write_atomically(args.port_file, f"{port}\n".encode("ascii"))
    loop.run_forever()


if __name__ == "__main__":
    main()
