// Passkeys in a real browser: Debian's Chromium with a CDP virtual authenticator (CTAP2,
// platform, user verification) stands in for the device. A user adds a passkey on the account
// page (the first factor: the recovery codes are shown once), signs out, and signs in to an
// application with the password and "Use a passkey" (the ID token says `amr` pwd+hwk), then
// with "Sign in with a passkey" and no password at all (`amr` hwk+mfa). The
// public URL is http://localhost:<port> (WebAuthn has no relying party for an IP address).
// Screenshots land in target/browser/. Loopback only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { mkdirSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { chromium } from 'playwright-core'
import { freePort, startLatchkey } from './server.mjs'

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const SHOTS = new URL('../target/browser/', import.meta.url).pathname
let lk, browser, rp, rpOrigin, client

function serve(port) {
  const s = createServer((req, res) => {
    const u = new URL(req.url, rpOrigin)
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(`<!doctype html><meta charset="utf-8"><title>${u.pathname}</title><h1 id="where">${u.pathname}</h1><pre id="q">${JSON.stringify(Object.fromEntries(u.searchParams))}</pre>`)
  })
  return new Promise((resolve) => s.listen(port, '127.0.0.1', () => resolve(s)))
}

before(async () => {
  const port = await freePort()
  rpOrigin = `http://127.0.0.1:${port}`
  rp = await serve(port)
  lk = await startLatchkey([], { host: 'localhost' })
  let r = await lk.json('POST', '/v1/users', { username: 'hedy', email: 'hedy@example.com', password: 'hedy-password-1' }, lk.admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  r = await lk.json('POST', '/v1/clients', { name: 'Team Wiki', first_party: true, redirect_uris: [`${rpOrigin}/cb`] }, lk.admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  client = r.body
  mkdirSync(SHOTS, { recursive: true })
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})

after(async () => {
  await browser?.close()
  rp?.close()
  lk?.stop()
})

function watch(tab) {
  const problems = []
  tab.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text()) })
  tab.on('pageerror', (e) => problems.push(String(e)))
  return problems
}

test('add a passkey on the account page, then sign in with it', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 1000 } })
  const tab = await ctx.newPage()
  const problems = watch(tab)
  const cdp = await ctx.newCDPSession(tab)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  })

  await tab.goto(`${lk.publicUrl}/account`)
  await tab.getByLabel('Username or email').fill('hedy')
  await tab.getByLabel('Password').fill('hedy-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForURL(`${lk.publicUrl}/account`)
  // Without a name the button asks for one and nothing is created.
  await tab.getByRole('button', { name: 'Add a passkey' }).click()
  assert.equal(await tab.locator('#passkey-error').textContent(), 'Name the passkey first (e.g. Work laptop).')
  await tab.getByLabel('Passkey name').fill('This laptop')
  await tab.screenshot({ path: SHOTS + 'passkey-account-add.png', fullPage: true })
  await tab.getByRole('button', { name: 'Add a passkey' }).click()
  await tab.waitForSelector('#recovery-codes')
  assert.ok(await tab.getByText('Passkey added: two-step verification is on.').isVisible())
  assert.equal((await tab.locator('#recovery-codes li').allTextContents()).length, 10)
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
  assert.equal(credentials.length, 1, 'the authenticator holds the new credential')
  await tab.getByRole('link', { name: 'Done' }).click()
  await tab.waitForLoadState()
  assert.deepEqual(await tab.locator('#passkeys strong').allTextContents(), ['This laptop'])
  await tab.screenshot({ path: SHOTS + 'passkey-account-list.png', fullPage: true })
  await tab.getByRole('button', { name: 'Sign out' }).click()
  await tab.waitForLoadState()

  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const q = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: `${rpOrigin}/cb`, scope: 'openid', state: 'st-9', nonce: 'n-9', code_challenge: challenge, code_challenge_method: 'S256' })
  await tab.goto(`${lk.publicUrl}/oauth/authorize?${q}`)
  await tab.getByLabel('Username or email').fill('hedy')
  await tab.getByLabel('Password').fill('hedy-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForLoadState()
  assert.ok(await tab.getByRole('button', { name: 'Use a passkey' }).isVisible())
  await tab.screenshot({ path: SHOTS + 'passkey-sign-in.png', fullPage: true })
  await tab.getByRole('button', { name: 'Use a passkey' }).click()
  await tab.waitForURL(`${rpOrigin}/cb?**`)
  const back = JSON.parse(await tab.textContent('#q'))
  assert.equal(back.state, 'st-9')
  const t = await fetch(`${lk.base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64') },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: back.code, redirect_uri: `${rpOrigin}/cb`, code_verifier: verifier }),
  })
  assert.equal(t.status, 200)
  const id = JSON.parse(Buffer.from((await t.json()).id_token.split('.')[1], 'base64url'))
  assert.deepEqual(id.amr, ['pwd', 'hwk'])
  assert.equal(id.acr, 'urn:latchkey:acr:mfa')

  // And without the password: the passkey names the user and verifies them.
  await ctx.clearCookies()
  const verifier2 = randomBytes(32).toString('base64url')
  const q2 = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: `${rpOrigin}/cb`, scope: 'openid', state: 'st-10', nonce: 'n-10', code_challenge: createHash('sha256').update(verifier2).digest('base64url'), code_challenge_method: 'S256' })
  await tab.goto(`${lk.publicUrl}/oauth/authorize?${q2}`)
  assert.ok(await tab.getByRole('button', { name: 'Sign in with a passkey' }).isVisible())
  await tab.screenshot({ path: SHOTS + 'passkey-passwordless.png', fullPage: true })
  await tab.getByRole('button', { name: 'Sign in with a passkey' }).click()
  await tab.waitForURL(`${rpOrigin}/cb?**`)
  const back2 = JSON.parse(await tab.textContent('#q'))
  assert.equal(back2.state, 'st-10')
  const t2 = await fetch(`${lk.base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64') },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: back2.code, redirect_uri: `${rpOrigin}/cb`, code_verifier: verifier2 }),
  })
  assert.equal(t2.status, 200)
  const id2 = JSON.parse(Buffer.from((await t2.json()).id_token.split('.')[1], 'base64url'))
  assert.deepEqual(id2.amr, ['hwk', 'mfa'])
  assert.equal(id2.acr, 'urn:latchkey:acr:mfa')
  assert.deepEqual(problems, [], 'no policy violation or script error')
  await ctx.close()
})
