exports.rows = [
  { product: "widget", units: 12 },
  { product: "gadget", units: 3 },
  { product: "gizmo", units: 7 },
];
