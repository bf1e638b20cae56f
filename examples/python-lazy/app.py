"""A JSON service whose less travelled paths load library code lazily: the sweep's example.

GET /        answers from the standard library alone (what a default probe sees).
GET /total   imports fastcalc inside the handler; its C extension imports a module that only
             the C code names (fastcalc_tables), when it loads.
GET /parse?n=X  on bad input falls into errkit's error path, which imports its renderer
             inside a function; the renderer picks its style module by a computed name.
GET /export  packs a report as a .tar.gz with tarfile, imported inside the handler; tarfile
             imports gzip only inside the function that opens a compressed archive.
GET /audit   sets up the audit trail from a logging configuration that names its handler
             class in a string; logging imports the module when the trail is first set up.
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import errkit

PORT = int(os.environ.get("PORT", "8080"))

# The audit trail, configured as logging's dictConfig takes it: the handler is a dotted path in
# a string, which nothing imports until the trail is first set up.
AUDIT = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"trail": {"class": "auditkit.handlers.MemoryTrail"}},
    "loggers": {"audit": {"handlers": ["trail"], "level": "INFO"}},
}


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/":
            self._send(200, {"service": "python-lazy"})
        elif url.path == "/total":
            import fastcalc

            self._send(200, {"total": fastcalc.total([1, 2, 3, 4])})
        elif url.path == "/parse":
            raw = parse_qs(url.query).get("n", [""])[0]
            try:
                self._send(200, {"n": int(raw)})
            except ValueError as e:
                self._send(400, {"error": errkit.describe(e)})
        elif url.path == "/export":
            import io
            import tarfile

            data = b"n,total\n4,10\n"
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                member = tarfile.TarInfo("report.csv")
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
            packed = buf.getvalue()
            with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
                names = tar.getnames()
            self._send(200, {"export": names, "gzip": packed[:2] == b"\x1f\x8b"})
        elif url.path == "/audit":
            import logging
            import logging.config

            audit = logging.getLogger("audit")
            if not audit.handlers:
                logging.config.dictConfig(AUDIT)
            audit.info("viewed")
            self._send(200, {"audit": audit.handlers[0].count})
        else:
            self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)


if __name__ == "__main__":
    print("listening on :%d" % PORT, flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
