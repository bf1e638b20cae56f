// Loaded lazily by server.js. Uses a built-in (zlib) and a sibling module.
const zlib = require("zlib");
const { rows } = require("./data");

exports.summary = () => {
  const total = rows.reduce((s, r) => s + r.units, 0);
  const packed = zlib.deflateSync(Buffer.from(JSON.stringify(rows))).length;
  return { rows: rows.length, units: total, compressed_bytes_positive: packed > 0 };
};
