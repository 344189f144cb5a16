// openid-client (a certified OpenID relying-party library) through the whole OpenID Connect
// flow against a real Latchkey: discovery, authorization code + PKCE through the hosted
// sign-in and consent forms (a cookie jar and form posts, as a browser without script), the
// token exchange with the library's own ID-token validation (signatures too, from the JWKS,
// for RS256, ES256 and EdDSA), UserInfo, refresh, introspection, revocation and
// RP-initiated logout. scripts/test.sh runs it. Loopback only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as oidc from 'openid-client'
import { startLatchkey } from './server.mjs'

const CB = 'https://rp.example/callback'
const BYE = 'https://rp.example/signed-out'
let lk, base, admin

before(async () => {
  lk = await startLatchkey()
  base = lk.base
  admin = lk.admin
  const r = await lk.json('POST', '/v1/users', { username: 'grace', email: 'grace@example.com', password: 'grace-password-1', roles: ['editor'], first_name: 'Grace', last_name: 'Hopper' }, admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
})

after(() => lk?.stop())

async function register(extra = {}) {
  const r = await lk.json('POST', '/v1/clients', { name: 'Interop RP', redirect_uris: [CB], post_logout_redirect_uris: [BYE], ...extra }, admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body
}

function discover(client, metadata = {}) {
  const auth = client.client_secret ? oidc.ClientSecretBasic(client.client_secret) : oidc.None()
  return oidc.discovery(new URL(base), client.client_id, metadata, auth, { execute: [oidc.allowInsecureRequests] })
}

// A browser without script: cookies kept, redirects not followed, forms posted as rendered.
class Jar {
  cookies = new Map()
  async fetch(url, init = {}) {
    const headers = { ...(init.headers ?? {}), cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }
    const r = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const c of r.headers.getSetCookie()) {
      const [kv, ...attrs] = c.split(';')
      const i = kv.indexOf('=')
      const [k, v] = [kv.slice(0, i), kv.slice(i + 1)]
      if (attrs.some((a) => a.trim() === 'Max-Age=0')) this.cookies.delete(k)
      else this.cookies.set(k, v)
    }
    return r
  }
  async submit(html, fields) {
    const action = unescape(html.match(/action="([^"]+)"/)[1])
    const hidden = {}
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) hidden[m[1]] = unescape(m[2])
    return this.fetch(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ ...hidden, ...fields }),
    })
  }
}

const unescape = (s) => s.replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&#39;', "'").replaceAll('&amp;', '&')

// From the authorization URL to the redirect back to the client, signing in and consenting
// on the way; returns the URL the browser lands on.
async function browse(jar, url) {
  let r = await jar.fetch(url)
  for (let step = 0; step < 6; step++) {
    const to = r.headers.get('location')
    if (r.status === 200) {
      const html = await r.text()
      if (html.includes('>Sign in</button>')) r = await jar.submit(html, { identifier: 'grace', password: 'grace-password-1' })
      else if (html.includes('>Allow</button>')) r = await jar.submit(html, { decision: 'allow' })
      else throw new Error(`unexpected page: ${html}`)
      continue
    }
    assert.ok([302, 303].includes(r.status), `status ${r.status}`)
    if (to.startsWith(CB)) return new URL(to)
    r = await jar.fetch(to)
  }
  throw new Error('too many steps')
}

async function codeFlow(config, jar, scope = 'openid profile email offline_access roles') {
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const nonce = oidc.randomNonce()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CB,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  const back = await browse(jar, url)
  return oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true })
}

test('discovery describes an OpenID provider at this issuer', async () => {
  const config = await discover(await register())
  const m = config.serverMetadata()
  assert.equal(m.issuer, base)
  assert.equal(m.authorization_endpoint, `${base}/oauth/authorize`)
  assert.equal(m.userinfo_endpoint, `${base}/oauth/userinfo`)
  assert.equal(m.end_session_endpoint, `${base}/logout`)
  assert.deepEqual(m.code_challenge_methods_supported, ['S256'])
  assert.ok(m.id_token_signing_alg_values_supported.includes('RS256'))
})

test('code + PKCE through the hosted pages, then UserInfo, refresh, introspection, revocation', async () => {
  const client = await register()
  const config = await discover(client)
  oidc.enableNonRepudiationChecks(config)
  const jar = new Jar()
  const tokens = await codeFlow(config, jar)
  const claims = tokens.claims()
  assert.equal(claims.iss, base)
  assert.equal(claims.aud, client.client_id)
  assert.equal(claims.preferred_username, 'grace')
  assert.equal(claims.name, 'Grace Hopper')
  assert.deepEqual(claims.roles, ['editor'])
  assert.deepEqual(claims.amr, ['pwd'])
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url'))
  assert.equal(header.alg, 'RS256')

  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)
  assert.equal(info.email, 'grace@example.com')
  assert.equal(info.given_name, 'Grace')

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token)
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token)
  assert.equal((await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub, claims.sub)
  // The spent refresh token again: refused, and the grant's session ends.
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), (e) => e.error === 'invalid_grant')
  await assert.rejects(oidc.fetchUserInfo(config, refreshed.access_token, claims.sub))

  // A second round: signed in and consented already, no page in between.
  const again = await codeFlow(config, jar)
  const live = await oidc.tokenIntrospection(config, again.access_token)
  assert.equal(live.active, true)
  assert.equal(live.client_id, client.client_id)
  assert.equal(live.username, 'grace')
  await oidc.tokenRevocation(config, again.refresh_token)
  assert.equal((await oidc.tokenIntrospection(config, again.access_token)).active, false)
})

test('ID tokens are signed as the client registered: ES256 and EdDSA', async () => {
  for (const alg of ['ES256', 'EdDSA']) {
    const client = await register({ id_token_signed_response_alg: alg, first_party: true })
    const config = await discover(client, { id_token_signed_response_alg: alg })
    oidc.enableNonRepudiationChecks(config)
    const tokens = await codeFlow(config, new Jar(), 'openid email')
    assert.equal(JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg, alg)
    assert.equal(tokens.claims().email, 'grace@example.com')
    assert.equal(tokens.refresh_token, undefined, 'no offline_access, no refresh token')
  }
})

test('a public client: PKCE and no secret', async () => {
  const client = await register({ public: true, first_party: true })
  assert.equal(client.client_secret, undefined)
  const config = await discover(client)
  const tokens = await codeFlow(config, new Jar())
  assert.ok(tokens.claims().sub)
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token)
  assert.ok(refreshed.access_token)
})

test('RP-initiated logout signs the browser out and returns to the registered URI', async () => {
  const client = await register({ first_party: true })
  const config = await discover(client)
  const jar = new Jar()
  const tokens = await codeFlow(config, jar)
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: 'bye' })
  const r = await jar.fetch(url)
  assert.equal(r.status, 303)
  assert.equal(r.headers.get('location'), `${BYE}?state=bye`)
  await assert.rejects(oidc.fetchUserInfo(config, tokens.access_token, tokens.claims().sub))
  // The next authorization asks for a sign-in again.
  const next = await jar.fetch(oidc.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' }))
  assert.match(next.headers.get('location'), /\/login\?/)
})

test('client credentials beside the user flows', async () => {
  const client = await register({ grant_types: ['client_credentials'], scopes: ['reports:read'], redirect_uris: [] })
  const config = await discover(client)
  const t = await oidc.clientCredentialsGrant(config, { scope: 'reports:read' })
  assert.equal(t.scope, 'reports:read')
})
