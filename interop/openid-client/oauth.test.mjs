// openid-client (a certified OpenID relying-party library) against a real Latchkey server:
// server metadata discovery, the client-credentials grant with both ways of client
// authentication, and token introspection — with the library's own validation of every
// answer. scripts/test.sh runs it (LATCHKEY_BIN names the binary to start).
//
// Loopback only; the server gets a fresh SQLite file and is stopped at the end.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as oidc from 'openid-client'

const BIN = process.env.LATCHKEY_BIN ?? new URL('../../target/debug/latchkey', import.meta.url).pathname
const ADMIN_PASSWORD = 'interop-admin-password-1'
let server, base, work, admin

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function json(method, path, body, token) {
  const r = await fetch(base + path, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await r.text()
  return { status: r.status, body: text ? JSON.parse(text) : null }
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'latchkey-interop-'))
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--database', join(work, 'interop.db')], {
    env: {
      ...process.env,
      LATCHKEY_ADMIN_PASSWORD: ADMIN_PASSWORD,
      LATCHKEY_ARGON2_MEMORY_KIB: '64',
      LATCHKEY_ARGON2_ITERATIONS: '1',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(base + '/readyz')).ok) break
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }
  const login = await json('POST', '/v1/auth/login', { identifier: 'admin', password: ADMIN_PASSWORD })
  assert.equal(login.status, 200, JSON.stringify(login.body))
  admin = login.body.access_token
})

after(() => {
  server?.kill('SIGTERM')
  rmSync(work, { recursive: true, force: true })
})

async function machineClient(scopes) {
  const r = await json('POST', '/v1/clients', { name: 'interop machine', grant_types: ['client_credentials'], scopes }, admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body
}

function discover(clientId, auth, metadata = {}) {
  // The issuer is the server's public URL: here its plain-http loopback address.
  return oidc.discovery(new URL(base), clientId, metadata, auth, {
    algorithm: 'oauth2',
    execute: [oidc.allowInsecureRequests],
  })
}

test('server metadata is discovered and names this issuer', async () => {
  const c = await machineClient(['reports:read'])
  const config = await discover(c.client_id, oidc.ClientSecretBasic(c.client_secret))
  const meta = config.serverMetadata()
  assert.equal(meta.issuer, base)
  assert.equal(meta.token_endpoint, `${base}/oauth/token`)
  assert.equal(meta.introspection_endpoint, `${base}/oauth/introspect`)
  assert.deepEqual(meta.grant_types_supported, ['client_credentials'])
})

test('the client-credentials grant works with client_secret_basic and client_secret_post', async () => {
  const c = await machineClient(['reports:read', 'reports:write'])
  for (const auth of [oidc.ClientSecretBasic(c.client_secret), oidc.ClientSecretPost(c.client_secret)]) {
    const config = await discover(c.client_id, auth)
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'reports:read' })
    assert.equal(tokens.token_type.toLowerCase(), 'bearer')
    assert.equal(tokens.scope, 'reports:read')
    assert.ok(tokens.expiresIn() > 0)
    // An RFC 9068 access token: at+jwt, the client as subject.
    const [header, payload] = tokens.access_token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')))
    assert.equal(header.typ, 'at+jwt')
    assert.equal(payload.iss, base)
    assert.equal(payload.client_id, c.client_id)
    assert.equal(payload.sub, c.client_id)
  }
})

test('refusals reach the library as OAuth errors', async () => {
  const c = await machineClient(['reports:read'])
  const wrong = await discover(c.client_id, oidc.ClientSecretBasic('not-the-secret'))
  // Over HTTP Basic, a 401 with a Basic challenge (RFC 6749 §5.2), which the library reports.
  await assert.rejects(oidc.clientCredentialsGrant(wrong, {}), (e) => {
    assert.ok(e instanceof oidc.WWWAuthenticateChallengeError, e.name)
    assert.equal(e.status, 401)
    assert.equal(e.cause[0].scheme, 'basic')
    assert.equal(e.cause[0].parameters.realm, 'latchkey')
    return true
  })
  // In the form, the error body.
  const posted = await discover(c.client_id, oidc.ClientSecretPost('not-the-secret'))
  await assert.rejects(oidc.clientCredentialsGrant(posted, {}), (e) => {
    assert.ok(e instanceof oidc.ResponseBodyError, e.name)
    assert.equal(e.error, 'invalid_client')
    assert.equal(e.status, 401)
    return true
  })
  const right = await discover(c.client_id, oidc.ClientSecretBasic(c.client_secret))
  await assert.rejects(oidc.clientCredentialsGrant(right, { scope: 'reports:delete' }), (e) => {
    assert.equal(e.error, 'invalid_scope')
    return true
  })
})

test('introspection tells an active token from a dead one', async () => {
  const c = await machineClient(['reports:read'])
  const config = await discover(c.client_id, oidc.ClientSecretBasic(c.client_secret))
  const tokens = await oidc.clientCredentialsGrant(config, {})
  const live = await oidc.tokenIntrospection(config, tokens.access_token)
  assert.equal(live.active, true)
  assert.equal(live.client_id, c.client_id)
  assert.equal(live.scope, 'reports:read')
  const dead = await oidc.tokenIntrospection(config, tokens.access_token + 'x')
  assert.equal(dead.active, false)
  // A user's access token, active until its session ends.
  const login = await json('POST', '/v1/auth/login', { identifier: 'admin', password: ADMIN_PASSWORD })
  const user = await oidc.tokenIntrospection(config, login.body.access_token)
  assert.equal(user.active, true)
  assert.equal(user.username, 'admin')
  await json('POST', '/v1/auth/logout', null, login.body.access_token)
  assert.equal((await oidc.tokenIntrospection(config, login.body.access_token)).active, false)
})
