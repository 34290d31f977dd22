"""What outlives an access token: the key that signs them, refresh tokens, revocations."""

from __future__ import annotations

import secrets

from apimw_cli.sandbox.store.database import Table, locked


class Tokens(Table):
    @locked
    def signing_key(self) -> bytes:
        """The key that signs access tokens; kept, so tokens survive a restart."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'jwt_key'").fetchone()
        if row is None:
            key = secrets.token_hex(32)
            self.db.execute("INSERT INTO meta (key, value) VALUES ('jwt_key', ?)", (key,))
            return bytes.fromhex(key)
        return bytes.fromhex(row["value"])

    @locked
    def add_refresh_token(self, token: str, expires_at: float) -> None:
        self.db.execute(
            "INSERT INTO refresh_tokens (token, expires_at) VALUES (?, ?)", (token, expires_at)
        )

    @locked
    def spend_refresh_token(self, token: str, now: float) -> bool:
        """Mark a refresh token used; False when unknown, spent or expired (single use)."""
        cursor = self.db.execute(
            "UPDATE refresh_tokens SET spent = 1 WHERE token = ? AND spent = 0 AND expires_at > ?",
            (token, now),
        )
        return cursor.rowcount == 1

    @locked
    def revoke(self, jti: str, expires_at: float) -> None:
        """Refuse the access token `jti` from now on."""
        self.db.execute(
            "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
            (jti, expires_at),
        )

    @locked
    def is_revoked(self, jti: str) -> bool:
        row = self.db.execute("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,)).fetchone()
        return row is not None
