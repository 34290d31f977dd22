"""What outlives an access token: the key that signs them, refresh tokens, revocations, and
which refresh token was issued with which access token (revoking the access token revokes
its refresh token too)."""

from __future__ import annotations

import secrets

from apimw_cli.sandbox.store.database import Database, Table, locked

# Kept here rather than in database.SCHEMA: only this table reads it, and CREATE IF NOT EXISTS
# adds it to a data directory made by an older sandbox.
PAIRS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS token_pairs"
    " (access_jti TEXT PRIMARY KEY, refresh_token TEXT NOT NULL)"
)


class Tokens(Table):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.db.execute(PAIRS_SCHEMA)

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
    def add_refresh_token(self, token: str, expires_at: float, *, access_jti: str) -> None:
        """A refresh token, issued with the access token `access_jti`."""
        with self.database.transaction() as db:
            db.execute(
                "INSERT INTO refresh_tokens (token, expires_at) VALUES (?, ?)", (token, expires_at)
            )
            db.execute(
                "INSERT INTO token_pairs (access_jti, refresh_token) VALUES (?, ?)",
                (access_jti, token),
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
        """Refuse the access token `jti` from now on, and the refresh token issued with it."""
        with self.database.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
                (jti, expires_at),
            )
            db.execute(
                "UPDATE refresh_tokens SET spent = 1 WHERE token IN"
                " (SELECT refresh_token FROM token_pairs WHERE access_jti = ?)",
                (jti,),
            )

    @locked
    def is_revoked(self, jti: str) -> bool:
        row = self.db.execute("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,)).fetchone()
        return row is not None
