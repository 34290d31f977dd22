<?php
// APIMW's PHP signature check, from docs.apimw.com/webhook-security, run against a captured
// delivery. The harness plays the web server: the raw body arrives on stdin (php://input in a
// request), the header in $_SERVER as PHP's SAPI puts it, the secret in WEBHOOK_SECRET.
// Prints "OK" when the docs' code accepts the request, "Invalid signature" when it refuses it.
$_SERVER['HTTP_X_APIMW_SIGNATURE'] = getenv('HTTP_X_APIMW_SIGNATURE');
$webhookSecret = getenv('WEBHOOK_SECRET');

// --- from the docs, verbatim (php://input becomes php://stdin outside a web server) --------
function verifyWebhookSignature($payload, $signature, $secret) {
    $expected = 'sha256=' . hash_hmac('sha256', $payload, $secret);
    return hash_equals($expected, $signature);
}

$payload = file_get_contents('php://stdin');
$signature = $_SERVER['HTTP_X_APIMW_SIGNATURE'] ?? '';

if (!verifyWebhookSignature($payload, $signature, $webhookSecret)) {
    http_response_code(401);
    die('Invalid signature');
}

$event = json_decode($payload, true);
// Process event...
// --- end of the docs' code ------------------------------------------------------------------
echo 'OK';
