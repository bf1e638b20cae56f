// A JSON service on Node's standard library. /report loads its module (and zlib) only when
// asked: a probe of / alone never reaches them.
const http = require("http");

const server = http.createServer((req, res) => {
  const send = (status, body) => {
    const data = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
    res.end(data);
  };
  if (req.url === "/") {
    send(200, { service: "node-http", node: process.versions.node.split(".")[0] });
  } else if (req.url === "/report") {
    const report = require("./lib/report");
    send(200, report.summary());
  } else if (req.url === "/health") {
    send(200, { ok: true });
  } else {
    send(404, { error: "not found" });
  }
});

server.listen(process.env.PORT || 8082, () => console.log("listening on :8082"));
