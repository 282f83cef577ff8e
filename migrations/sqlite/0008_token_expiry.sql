-- API tokens may expire (`token create --expires-in 90d`); a token past its expiry is
-- refused like a revoked one. last_used_at shows in `token list` which tokens are in use.
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;
