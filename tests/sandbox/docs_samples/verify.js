// APIMW's Node.js signature check, from docs.apimw.com/webhook-security, run against a captured
// delivery. The harness plays express: the raw body (req.rawBody, a Buffer) arrives on stdin,
// the header in X_APIMW_SIGNATURE, the secret in WEBHOOK_SECRET. Prints what the docs' route
// would send: "OK" (200) or "Invalid signature" (401); a throw (timingSafeEqual on buffers of
// different lengths) prints "error: <name>" and exits 2, as express would answer 500.

// --- from the docs, verbatim -----------------------------------------------------------------
const crypto = require('crypto');

function verifySignature(payload, signature, secret) {
  const expected = 'sha256=' + crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');
  return crypto.timingSafeEqual(
    Buffer.from(expected),
    Buffer.from(signature)
  );
}
// --- end of the docs' code ------------------------------------------------------------------

const req = {
  rawBody: require('fs').readFileSync(0),
  headers: { 'x-apimw-signature': process.env.X_APIMW_SIGNATURE },
};
try {
  // The docs' route body:
  const signature = req.headers['x-apimw-signature'];
  if (!verifySignature(req.rawBody, signature, process.env.WEBHOOK_SECRET)) {
    process.stdout.write('Invalid signature');
  } else {
    process.stdout.write('OK');
  }
} catch (err) {
  process.stdout.write('error: ' + err.name);
  process.exit(2);
}
