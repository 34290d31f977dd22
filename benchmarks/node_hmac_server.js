// The practical one-core limit for benchmarks/receiver.py: Node's `http` server that reads each
// body, verifies its X-APIMW-Signature (HMAC-SHA256 of the body, constant-time compare) and
// answers 200 (401 when the signature is wrong). Prints "PORT <n>" once listening on 127.0.0.1
// and exits when its stdin closes. The secret comes from $APIMW_BENCH_SECRET.
"use strict";
const crypto = require("crypto");
const http = require("http");

const secret = process.env.APIMW_BENCH_SECRET || "";

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks);
    const digest = crypto.createHmac("sha256", secret).update(body).digest("hex");
    const expected = Buffer.from("sha256=" + digest);
    const given = Buffer.from(String(request.headers["x-apimw-signature"] || ""));
    const valid = given.length === expected.length && crypto.timingSafeEqual(given, expected);
    response.writeHead(valid ? 200 : 401, { "Content-Length": "0" });
    response.end();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
