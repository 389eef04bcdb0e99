#!/usr/bin/env python3
"""A tiny HTTP server for one lab real server (started by scripts/lab.sh).

GET /          -> "<name>\n"                       (what the tests compare)
GET /whoami    -> "<name> <client-ip>:<client-port>\n"
GET /bytes/N   -> N bytes of text (a multi-frame response, up to 100 MB)
Every answer carries X-Served-By: <name> and X-Client-Address: <ip>:<port>,
so a test sees which source address (client or proxy IP) reached the server
without a packet capture. HTTP/1.1 with keep-alive; HEAD works too.
"""

import argparse
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BYTES = 100 * 1000 * 1000
CHUNK = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gslbd-lab-httpd"
    name = "web"

    def version_string(self):
        return self.server_version

    def _client(self):
        return f"{self.client_address[0]}:{self.client_address[1]}"

    def _answer(self, status, length, chunks):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(length))
        self.send_header("X-Served-By", self.name)
        self.send_header("X-Client-Address", self._client())
        self.end_headers()
        if self.command != "HEAD":
            for chunk in chunks:
                self.wfile.write(chunk)

    def _route(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            body = f"{self.name}\n".encode()
            return 200, len(body), [body]
        if path == "/whoami":
            body = f"{self.name} {self._client()}\n".encode()
            return 200, len(body), [body]
        if path.startswith("/bytes/"):
            try:
                n = int(path[len("/bytes/"):])
            except ValueError:
                n = -1
            if 0 <= n <= MAX_BYTES:
                line = f"{self.name} ".encode().ljust(63, b"x")[:63] + b"\n"
                block = line * (CHUNK // len(line))

                def gen(left=n):
                    while left > 0:
                        piece = block[: min(left, len(block))]
                        left -= len(piece)
                        yield piece

                return 200, n, gen()
        body = b"not found\n"
        return 404, len(body), [body]

    def do_GET(self):
        self._answer(*self._route())

    def do_HEAD(self):
        self._answer(*self._route())

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{self.log_date_time_string()} {self.name} "
                         f"{self._client()} {fmt % args}\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True, help="server name, e.g. web1")
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--port", type=int, default=80)
    a = p.parse_args()
    Handler.name = a.name
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer((a.bind, a.port), Handler)
    sys.stderr.write(f"{a.name}: listening on {a.bind}:{a.port}\n")
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
