-- Signing keys for more than one algorithm: Ed25519 (EdDSA, access tokens), RSA (RS256) and
-- P-256 (ES256) for OpenID Connect ID tokens. Keys made before this are Ed25519. For RSA the
-- public part is stored as `n.e`, for P-256 as `x.y` (base64url each).
ALTER TABLE signing_keys ADD COLUMN alg TEXT NOT NULL DEFAULT 'EdDSA';
