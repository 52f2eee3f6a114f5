-- Console and API tokens (state.Tokens). Only a SHA-256 of each secret is
-- kept; the secret is shown once, when the token is made.
CREATE TABLE tokens (
    id           text        PRIMARY KEY,
    name         text        NOT NULL UNIQUE,
    role         text        NOT NULL,
    secret_hash  text        NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   text        NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
