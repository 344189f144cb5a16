// The hosted pages in a real browser (Debian's Chromium, driven by playwright-core): a user
// signs in (a wrong password first), consents, lands back at the application with a code,
// which the application exchanges; then signs out through RP-initiated logout. Chromium
// enforces the pages' CSP (form-action included, which it also applies to the redirect after
// a post), so a policy that broke the flow fails here. Desktop and phone screenshots land
// in target/browser/ for a human to look at. Loopback only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { startLatchkey } from './server.mjs'
import { SHOTS, launchChromium, startRp, watch } from './browser.mjs'

let lk, browser, rp, rpOrigin, client

before(async () => {
  rp = await startRp()
  rpOrigin = rp.origin
  lk = await startLatchkey()
  let r = await lk.json('POST', '/v1/users', { username: 'linus', email: 'linus@example.com', password: 'linus-password-1', first_name: 'Linus' }, lk.admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  r = await lk.json('POST', '/v1/clients', { name: 'Team Wiki', redirect_uris: [`${rpOrigin}/cb`], post_logout_redirect_uris: [`${rpOrigin}/bye`] }, lk.admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  client = r.body
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  rp?.close()
  lk?.stop()
})

function authorizeUrl(verifier) {
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const q = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: `${rpOrigin}/cb`, scope: 'openid profile email', state: 'st-42', nonce: 'n-42', code_challenge: challenge, code_challenge_method: 'S256' })
  return `${lk.base}/oauth/authorize?${q}`
}

test('sign in, consent, back to the application with a code, sign out', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 760 } })
  const tab = await ctx.newPage()
  const problems = watch(tab)
  const verifier = randomBytes(32).toString('base64url')
  await tab.goto(authorizeUrl(verifier))
  assert.match(tab.url(), /\/login\?/)
  assert.equal(await tab.title(), 'Sign in · Latchkey')
  // The stylesheet from the binary applies (the button is the brand's blue).
  const bg = await tab.$eval('button[type=submit]', (b) => getComputedStyle(b).backgroundColor)
  assert.equal(bg, 'rgb(47, 91, 211)')
  assert.equal(await tab.evaluate(() => document.activeElement.id), 'identifier', 'focus starts on the first field')
  await tab.screenshot({ path: SHOTS + 'pages-login.png', fullPage: true })

  await tab.getByLabel('Username or email').fill('linus')
  await tab.getByLabel('Password').fill('not-the-password')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForLoadState()
  assert.equal(await tab.getByRole('alert').textContent(), 'The username or email, or the password, is not right.')
  assert.equal(await tab.getByLabel('Username or email').inputValue(), 'linus', 'what was typed is kept')
  assert.equal(await tab.evaluate(() => document.activeElement.id), 'password', 'focus on the field to retype')
  await tab.screenshot({ path: SHOTS + 'pages-login-error.png', fullPage: true })

  await tab.getByLabel('Password').fill('linus-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForURL(/\/consent\?/)
  assert.ok(await tab.getByText('Allow Team Wiki to access your account?').isVisible())
  assert.ok(await tab.getByText('See your email address').isVisible())
  await tab.screenshot({ path: SHOTS + 'pages-consent.png', fullPage: true })

  // Cookies as the browser holds them: HttpOnly, SameSite=Lax.
  const cookies = await ctx.cookies(lk.base)
  const session = cookies.find((c) => c.name === 'latchkey_session')
  assert.ok(session?.httpOnly && session.sameSite === 'Lax', JSON.stringify(cookies))
  assert.equal(await tab.evaluate(() => document.cookie), '', 'no cookie readable by script')

  await tab.getByRole('button', { name: 'Allow' }).click()
  await tab.waitForURL(`${rpOrigin}/cb?**`)
  const q = JSON.parse(await tab.textContent('#q'))
  assert.equal(q.state, 'st-42')
  assert.equal(q.iss, lk.base)
  await tab.screenshot({ path: SHOTS + 'pages-back-at-the-app.png', fullPage: true })

  // The application exchanges the code.
  const t = await fetch(`${lk.base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64') },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: q.code, redirect_uri: `${rpOrigin}/cb`, code_verifier: verifier }),
  })
  assert.equal(t.status, 200)
  const tokens = await t.json()

  // Sign-out through the end-session endpoint, back to the application.
  const bye = new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: `${rpOrigin}/bye`, state: 'bye-42' })
  await tab.goto(`${lk.base}/logout?${bye}`)
  await tab.waitForURL(`${rpOrigin}/bye?**`)
  assert.equal(JSON.parse(await tab.textContent('#q')).state, 'bye-42')
  assert.equal((await ctx.cookies(lk.base)).find((c) => c.name === 'latchkey_session'), undefined)
  // Signed out: the next authorization asks for a sign-in.
  await tab.goto(authorizeUrl(verifier))
  assert.match(tab.url(), /\/login\?/)
  assert.deepEqual(problems, [], 'no policy violation or script error')
  await ctx.close()
})

test('on a phone, and signing out by hand', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 760 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 })
  const tab = await ctx.newPage()
  const problems = watch(tab)
  await tab.goto(`${lk.base}/login`)
  // One column that fits: nothing wider than the screen.
  assert.ok(await tab.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))
  await tab.screenshot({ path: SHOTS + 'pages-login-phone.png', fullPage: true })
  await tab.getByLabel('Username or email').fill('linus@example.com')
  await tab.getByLabel('Password').fill('linus-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.waitForLoadState()
  assert.ok(await tab.getByText('You are signed in').isVisible())
  await tab.getByRole('button', { name: 'Sign out' }).click()
  await tab.waitForLoadState()
  assert.ok(await tab.getByText('You are signed out').isVisible())
  await tab.screenshot({ path: SHOTS + 'pages-signed-out-phone.png', fullPage: true })
  assert.deepEqual(problems, [])
  await ctx.close()
})
