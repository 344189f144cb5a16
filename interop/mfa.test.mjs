// Two-step verification in a real browser (Debian's Chromium, driven by playwright-core): a
// user sets up an authenticator app on the account page (the QR code and the key, then the
// app's code; the recovery codes are shown once), signs out, and signs in to an application
// again: the password, then the "Authentication code" step, then back at the application.
// The codes come from an RFC 6238 implementation written here on node:crypto, not from the
// server. Screenshots land in target/browser/. Loopback only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { startLatchkey } from './server.mjs'
import { SHOTS, authorizeUrl, exchangeCode, launchChromium, startRp, watch } from './browser.mjs'

let lk, browser, rp, client

function base32(s) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = 0
  let acc = 0
  const out = []
  for (const ch of s.replace(/=+$/, '')) {
    acc = (acc << 5) | abc.indexOf(ch)
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out.push((acc >> bits) & 0xff)
    }
  }
  return Buffer.from(out)
}

// RFC 6238 with HMAC-SHA-1, 6 digits, 30-second steps.
function totp(secret, step) {
  const msg = Buffer.alloc(8)
  msg.writeBigUInt64BE(BigInt(step))
  const mac = createHmac('sha1', base32(secret)).update(msg).digest()
  const off = mac[mac.length - 1] & 0x0f
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1000000
  return String(n).padStart(6, '0')
}

const step = () => Math.floor(Date.now() / 1000 / 30)

before(async () => {
  rp = await startRp()
  lk = await startLatchkey()
  let r = await lk.json('POST', '/v1/users', { username: 'grace', email: 'grace@example.com', password: 'grace-password-1' }, lk.admin)
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

test('set up an authenticator app on the account page, then sign in with its code', async () => {
  // Codes of one 30-second step at most a few seconds old, so the next step's is not yet due.
  const into = (Date.now() / 1000) % 30
  if (into > 15) await new Promise((r) => setTimeout(r, (31 - into) * 1000))
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } })
  const tab = await ctx.newPage()
  const problems = watch(tab)
  await tab.goto(`${lk.base}/account`)
  assert.match(tab.url(), /\/login\?return=account/)
  await tab.getByLabel('Username or email').fill('grace')
  await tab.getByLabel('Password').fill('grace-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForURL(`${lk.base}/account`)
  assert.equal(await tab.title(), 'Your account · Latchkey')
  await tab.screenshot({ path: SHOTS + 'mfa-account-off.png', fullPage: true })

  await tab.getByRole('button', { name: 'Set up an authenticator app' }).click()
  await tab.waitForLoadState()
  const qr = tab.locator('.qr svg')
  assert.ok(await qr.isVisible(), 'the QR code is drawn')
  const box = await qr.boundingBox()
  assert.ok(box.width >= 150 && box.height >= 150, `QR code ${box.width}x${box.height}`)
  const secret = (await tab.textContent('#secret')).trim()
  assert.match(secret, /^[A-Z2-7]{32}$/)
  await tab.screenshot({ path: SHOTS + 'mfa-account-setup.png', fullPage: true })
  const now = step()
  await tab.getByLabel('Authentication code').fill(totp(secret, now + 3))
  await tab.getByRole('button', { name: 'Turn on' }).click()
  await tab.waitForLoadState()
  assert.equal(await tab.getByRole('alert').textContent(), 'That code is not right. Enter the code the app shows now.')
  await tab.getByLabel('Authentication code').fill(totp(secret, now))
  await tab.getByRole('button', { name: 'Turn on' }).click()
  await tab.waitForLoadState()
  const codes = await tab.locator('#recovery-codes li').allTextContents()
  assert.equal(codes.length, 10)
  await tab.screenshot({ path: SHOTS + 'mfa-recovery-codes.png', fullPage: true })
  await tab.getByRole('link', { name: 'Done' }).click()
  await tab.waitForLoadState()
  assert.ok(await tab.getByText('10 recovery codes left.').isVisible())
  await tab.getByRole('button', { name: 'Sign out' }).click()
  await tab.waitForLoadState()

  // An application asks for a sign-in: the password, then the code.
  const { url, verifier } = authorizeUrl(lk.base, client, rp, { state: 'st-7', nonce: 'n-7' })
  await tab.goto(url)
  await tab.getByLabel('Username or email').fill('grace')
  await tab.getByLabel('Password').fill('grace-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForLoadState()
  assert.equal(await tab.title(), 'Two-step verification · Latchkey')
  assert.equal(await tab.evaluate(() => document.activeElement.id), 'code', 'focus on the code')
  await tab.screenshot({ path: SHOTS + 'mfa-sign-in-code.png', fullPage: true })
  await tab.getByLabel('Authentication code').fill(totp(secret, now))
  await tab.getByRole('button', { name: 'Verify' }).click()
  await tab.waitForLoadState()
  assert.equal(await tab.getByRole('alert').textContent(), 'That code is not right. 4 attempts left.')
  await tab.getByLabel('Authentication code').fill(totp(secret, now + 1))
  await tab.getByRole('button', { name: 'Verify' }).click()
  await tab.waitForURL(`${rp.origin}/cb?**`)
  const back = JSON.parse(await tab.textContent('#q'))
  assert.equal(back.state, 'st-7')
  const t = await exchangeCode(lk, client, rp, back.code, verifier)
  assert.equal(t.status, 200)
  const id = t.claims
  assert.deepEqual(id.amr, ['pwd', 'otp'])
  assert.equal(id.acr, 'urn:latchkey:acr:mfa')
  assert.deepEqual(problems, [], 'no policy violation or script error')
  await ctx.close()
})

test('the code step on a phone', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 760 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 })
  const tab = await ctx.newPage()
  const problems = watch(tab)
  await tab.goto(`${lk.base}/login`)
  await tab.getByLabel('Username or email').fill('grace')
  await tab.getByLabel('Password').fill('grace-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForLoadState()
  assert.ok(await tab.getByLabel('Authentication code').isVisible())
  assert.ok(await tab.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))
  await tab.screenshot({ path: SHOTS + 'mfa-sign-in-code-phone.png', fullPage: true })
  assert.deepEqual(problems, [])
  await ctx.close()
})
