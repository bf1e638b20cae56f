"""A small JSON HTTP service on the standard library: the Python example for slimctl."""
import json
import os
import platform
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/":
            self._send(200, {"service": "python-http", "python": platform.python_version()})
        elif self.path == "/health":
            self._send(200, {"ok": True})
        elif self.path == "/stats":
            # Imported here only: a probe of / never loads it (slimctl's python-imports rule keeps it).
            import statistics

            latencies = [12, 15, 11, 30, 14]
            self._send(200, {"mean": statistics.mean(latencies), "median": statistics.median(latencies)})
        else:
            self._send(404, {"error": "not found", "path": self.path})

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)


if __name__ == "__main__":
    print(f"listening on :{PORT}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
