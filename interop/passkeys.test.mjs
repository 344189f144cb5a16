// Passkeys in a real browser: Debian's Chromium with a CDP virtual authenticator (CTAP2,
// platform, user verification) stands in for the device. A user adds a passkey on the account
// page (the first factor: the recovery codes are shown once), signs out, and signs in to an
// application with the password and "Use a passkey" (the ID token says `amr` pwd+hwk), then
// with "Sign in with a passkey" and no password at all (`amr` hwk+mfa). The
// public URL is http://localhost:<port> (WebAuthn has no relying party for an IP address).
// Screenshots land in target/browser/. Loopback only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startLatchkey } from './server.mjs'
import { SHOTS, authorizeUrl, exchangeCode, launchChromium, startRp, watch } from './browser.mjs'

let lk, browser, rp, client

before(async () => {
  rp = await startRp()
  lk = await startLatchkey([], { host: 'localhost' })
  let r = await lk.json('POST', '/v1/users', { username: 'hedy', email: 'hedy@example.com', password: 'hedy-password-1' }, lk.admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  r = await lk.json('POST', '/v1/clients', { name: 'Team Wiki', first_party: true, redirect_uris: [`${rp.origin}/cb`] }, lk.admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  client = r.body
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  rp?.close()
  lk?.stop()
})

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

  const first = authorizeUrl(lk.publicUrl, client, rp, { state: 'st-9', nonce: 'n-9' })
  await tab.goto(first.url)
  await tab.getByLabel('Username or email').fill('hedy')
  await tab.getByLabel('Password').fill('hedy-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForLoadState()
  assert.ok(await tab.getByRole('button', { name: 'Use a passkey' }).isVisible())
  await tab.screenshot({ path: SHOTS + 'passkey-sign-in.png', fullPage: true })
  await tab.getByRole('button', { name: 'Use a passkey' }).click()
  await tab.waitForURL(`${rp.origin}/cb?**`)
  const back = JSON.parse(await tab.textContent('#q'))
  assert.equal(back.state, 'st-9')
  const t = await exchangeCode(lk, client, rp, back.code, first.verifier)
  assert.equal(t.status, 200)
  const id = t.claims
  assert.deepEqual(id.amr, ['pwd', 'hwk'])
  assert.equal(id.acr, 'urn:latchkey:acr:mfa')

  // And without the password: the passkey names the user and verifies them.
  await ctx.clearCookies()
  const second = authorizeUrl(lk.publicUrl, client, rp, { state: 'st-10', nonce: 'n-10' })
  await tab.goto(second.url)
  assert.ok(await tab.getByRole('button', { name: 'Sign in with a passkey' }).isVisible())
  await tab.screenshot({ path: SHOTS + 'passkey-passwordless.png', fullPage: true })
  await tab.getByRole('button', { name: 'Sign in with a passkey' }).click()
  await tab.waitForURL(`${rp.origin}/cb?**`)
  const back2 = JSON.parse(await tab.textContent('#q'))
  assert.equal(back2.state, 'st-10')
  const t2 = await exchangeCode(lk, client, rp, back2.code, second.verifier)
  assert.equal(t2.status, 200)
  const id2 = t2.claims
  assert.deepEqual(id2.amr, ['hwk', 'mfa'])
  assert.equal(id2.acr, 'urn:latchkey:acr:mfa')
  assert.deepEqual(problems, [], 'no policy violation or script error')
  await ctx.close()
})
