"""The notes app's integration tests: they talk to a running app over HTTP (APP_URL) and
check what a user of its API relies on. Run with `python3 -m unittest -v`."""
import json
import os
import unittest
import urllib.error
import urllib.request

APP = os.environ.get("APP_URL", "http://web:8000").rstrip("/")


def call(method, path, payload=None):
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(APP + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class NotesApi(unittest.TestCase):
    def test_1_health_reports_the_database(self):
        status, body = call("GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")
        self.assertTrue(body["database"].startswith("15"), body)

    def test_2_a_note_is_created_and_read_back(self):
        status, created = call("POST", "/notes", {"title": "groceries", "body": "milk, bread and eggs"})
        self.assertEqual(status, 201)
        status, got = call("GET", f"/notes/{created['id']}")
        self.assertEqual((status, got), (200, created))

    def test_3_the_list_holds_every_note(self):
        call("POST", "/notes", {"title": "call the plumber"})
        status, notes = call("GET", "/notes")
        self.assertEqual(status, 200)
        self.assertIn("call the plumber", [n["title"] for n in notes])

    def test_4_bad_input_is_refused(self):
        self.assertEqual(call("POST", "/notes", {"body": "no title"})[0], 400)
        self.assertEqual(call("GET", "/notes/999999")[0], 404)

    def test_5_stats_count_the_words(self):
        call("POST", "/notes", {"title": "a much longer title here", "body": "one two three"})
        status, stats = call("GET", "/stats")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(stats["notes"], 1)
        self.assertGreater(stats["words"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
