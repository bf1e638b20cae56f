"""An inventory API as teams write one with the standard library: JSON endpoints, described by
an OpenAPI 3 spec served at /openapi.json. Nothing links to the API: `GET /` answers a status
document, so a crawl finds no endpoint. The CSV export takes the text encoding the caller asks
for (Excel on Windows wants cp1252), and Python loads a codec's module only when it is first
asked for: only a request that names it shows which the app needs."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ITEMS = {
    1: {"id": 1, "name": "Crème brûlée torch", "price": 24.5},
    2: {"id": 2, "name": "Kaffeemühle", "price": 39.0},
}

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Inventory", "version": "1.0.0"},
    "servers": [{"url": "/api"}],
    "paths": {
        "/items": {
            "get": {"summary": "List items", "responses": {"200": {"description": "items"}}},
            "post": {
                "summary": "Add an item",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewItem"}}},
                },
                "responses": {"201": {"description": "added"}},
            },
        },
        "/items/{id}": {
            "get": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}, "example": 2}],
                "responses": {"200": {"description": "one item"}},
            }
        },
        "/export.csv": {
            "get": {
                "summary": "The inventory as CSV, in the text encoding asked for",
                "parameters": [
                    {
                        "name": "encoding",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["utf-8", "cp1252", "latin-1"]},
                    }
                ],
                "responses": {"200": {"description": "CSV"}},
            }
        },
    },
    "components": {
        "schemas": {
            "NewItem": {
                "type": "object",
                "required": ["name", "price"],
                "properties": {"name": {"type": "string", "example": "Teekanne"}, "price": {"type": "number", "example": 12.0}},
            }
        }
    },
}


class Handler(BaseHTTPRequestHandler):
    def send_json(self, status, body):
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/":
            return self.send_json(200, {"service": "inventory", "status": "ok"})
        if url.path == "/openapi.json":
            return self.send_json(200, SPEC)
        if url.path == "/api/items":
            return self.send_json(200, sorted(ITEMS.values(), key=lambda i: i["id"]))
        if url.path.startswith("/api/items/"):
            item = ITEMS.get(int(url.path.rsplit("/", 1)[1]))
            return self.send_json(200 if item else 404, item or {"error": "no such item"})
        if url.path == "/api/export.csv":
            encoding = query.get("encoding", ["utf-8"])[0]
            lines = ["id;name;price"] + [f"{i['id']};{i['name']};{i['price']}" for i in ITEMS.values()]
            data = ("\r\n".join(lines) + "\r\n").encode(encoding)
            self.send_response(200)
            self.send_header("Content-Type", f"text/csv; charset={encoding}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        self.send_json(404, {"error": "not found"})

    def do_POST(self):
        if urlparse(self.path).path != "/api/items":
            return self.send_json(404, {"error": "not found"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        # Answers what it would add, without adding it: the same request gives the same answer.
        return self.send_json(201, {"id": len(ITEMS) + 1, "name": body.get("name"), "price": body.get("price")})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
