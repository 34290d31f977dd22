"""The APIMW API client. httpx is used here (and by the receiver's forwarder) only."""
