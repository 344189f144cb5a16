// openid-client (a certified OpenID relying-party library) against a real Latchkey server:
// server metadata discovery, the client-credentials grant with both ways of client
// authentication, and token introspection — with the library's own validation of every
// answer. scripts/test.sh runs it.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as oidc from 'openid-client'
import { ADMIN_PASSWORD, startLatchkey } from './server.mjs'

let lk, base, admin
const json = (...a) => lk.json(...a)

before(async () => {
  lk = await startLatchkey()
  base = lk.base
  admin = lk.admin
})

after(() => lk?.stop())

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
  assert.deepEqual(meta.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials'])
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
