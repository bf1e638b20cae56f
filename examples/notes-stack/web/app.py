#!/usr/bin/env python3
"""Notes: a small JSON web app that keeps its notes in PostgreSQL.

It connects to the database when it starts and exits if the database is not there: like many
real services, it cannot start alone. Settings come from the environment (DATABASE_HOST,
DATABASE_USER, DATABASE_PASSWORD, DATABASE_NAME, PORT).
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

DB = dict(
    host=os.environ.get("DATABASE_HOST", "db"),
    user=os.environ.get("DATABASE_USER", "postgres"),
    password=os.environ.get("DATABASE_PASSWORD", ""),
    dbname=os.environ.get("DATABASE_NAME", "postgres"),
    connect_timeout=5,
)

try:
    conn = psycopg2.connect(**DB)
except psycopg2.OperationalError as e:
    print(f"notes: cannot reach the database at {DB['host']}: {e}".strip(), file=sys.stderr)
    sys.exit(1)
conn.autocommit = True
lock = threading.Lock()
with conn.cursor() as cur:
    cur.execute(
        "CREATE TABLE IF NOT EXISTS notes ("
        " id serial PRIMARY KEY, title text NOT NULL, body text NOT NULL DEFAULT '')"
    )


def query(sql, args=()):
    with lock, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else []


def note(row):
    return {"id": row[0], "title": row[1], "body": row[2]}


PAGE = """<!doctype html>
<html><head><title>Notes</title></head>
<body><h1>Notes</h1><p>{count} note(s). <a href="/notes">All notes as JSON</a>,
<a href="/health">health</a>.</p></body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "notes/1"

    def send(self, status, payload, kind="application/json"):
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/":
            count = query("SELECT count(*) FROM notes")[0][0]
            return self.send(200, PAGE.format(count=count), "text/html; charset=utf-8")
        if self.path == "/health":
            version = query("SHOW server_version")[0][0]
            return self.send(200, {"status": "ok", "database": version.split()[0]})
        if self.path == "/notes":
            return self.send(200, [note(r) for r in query("SELECT id, title, body FROM notes ORDER BY id")])
        m = re.fullmatch(r"/notes/(\d+)", self.path)
        if m:
            rows = query("SELECT id, title, body FROM notes WHERE id = %s", (int(m.group(1)),))
            return self.send(200, note(rows[0])) if rows else self.send(404, {"error": "no such note"})
        if self.path == "/stats":
            # Only the stats page needs this module: loaded on first use.
            import stats

            rows = query("SELECT title, body FROM notes")
            return self.send(200, stats.summary(rows))
        self.send(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/notes":
            return self.send(404, {"error": "not found"})
        try:
            length = int(self.headers.get("Content-Length", "0"))
            data = json.loads(self.rfile.read(length) or b"{}")
            title = str(data["title"]).strip()
        except (ValueError, KeyError):
            return self.send(400, {"error": "send JSON with a title"})
        if not title:
            return self.send(400, {"error": "the title is empty"})
        row = query(
            "INSERT INTO notes (title, body) VALUES (%s, %s) RETURNING id, title, body",
            (title, str(data.get("body", ""))),
        )[0]
        self.send(201, note(row))

    def log_message(self, fmt, *args):
        print(f"notes: {self.command} {self.path} {args[1] if len(args) > 1 else ''}", flush=True)


port = int(os.environ.get("PORT", "8000"))
print(f"notes: connected to {DB['host']}, serving on port {port}", flush=True)
ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
