// GET /          answers from Node's standard library alone (what a default probe sees).
// GET /parse?n=X on bad input requires errfmt inside the handler; errfmt loads its theme by a
//                computed name, which no require() literal names.
const http = require("http");

const server = http.createServer((req, res) => {
  const send = (status, body) => {
    const data = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
    res.end(data);
  };
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/") {
    send(200, { service: "node-lazy" });
  } else if (url.pathname === "/parse") {
    const n = Number.parseInt(url.searchParams.get("n") || "", 10);
    if (Number.isNaN(n)) {
      const errfmt = require("errfmt");
      send(400, { error: errfmt.describe(new RangeError("not a number")) });
    } else {
      send(200, { n });
    }
  } else {
    send(404, { error: "not found" });
  }
});

server.listen(8083, () => console.log("listening on :8083"));
