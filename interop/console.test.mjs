// The admin console and the account page in a real browser (Debian's Chromium, driven by
// playwright-core): an administrator signs in through the hosted sign-in page, finds a user
// with the live search (htmx, under the pages' strict policy), changes their roles, ends their
// sessions (their access token is then refused by the API), disables and enables them,
// registers and deletes an application and reads the audit log; a plain user changes their
// password on /account and ends another session. axe-core checks every page at 1280 px and
// 390 px: no serious or critical violation. Screenshots land in target/browser/console-*.png
// (docs/console.md shows them). Loopback only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startLatchkey, ADMIN_PASSWORD } from './server.mjs'
import { SHOTS, axeViolations, launchChromium, watch } from './browser.mjs'

let lk, browser

before(async () => {
  lk = await startLatchkey()
  for (const [username, first, last] of [['ann', 'Ann', 'Arbor'], ['grace', 'Grace', 'Hopper'], ['alan', 'Alan', 'Turing']]) {
    const r = await lk.json('POST', '/v1/users', { username, email: `${username}@example.com`, password: `${username}-password-1`, first_name: first, last_name: last }, lk.admin)
    assert.equal(r.status, 201, JSON.stringify(r.body))
  }
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  lk?.stop()
})

async function apiLogin(username, password) {
  return lk.json('POST', '/v1/auth/login', { identifier: username, password })
}

async function signIn(tab, username, password) {
  await tab.getByLabel('Username or email').fill(username)
  await tab.getByLabel('Password', { exact: true }).fill(password)
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
}

async function accessible(tab, label) {
  assert.deepEqual(await axeViolations(tab), [], `axe on ${label}`)
}

// Every page of the console, its screenshot name and a heading it must show.
const PAGES = [
  ['/console', 'overview', 'Overview'],
  ['/console/users', 'users', 'Users'],
  ['/console/roles', 'roles', 'Roles'],
  ['/console/organizations', 'organizations', 'Organizations'],
  ['/console/applications', 'applications', 'Applications'],
  ['/console/audit', 'audit', 'Audit log'],
  ['/console/keys', 'keys', 'Signing keys'],
  ['/console/settings', 'settings', 'Settings'],
]

test('an administrator manages users and applications in the console', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  const tab = await ctx.newPage()
  const problems = watch(tab)

  // Signed out: the console sends the browser to the sign-in page and back.
  await tab.goto(`${lk.base}/console/users`)
  assert.match(tab.url(), /\/login\?return=%2Fconsole%2Fusers$/)
  await signIn(tab, 'admin', ADMIN_PASSWORD)
  await tab.waitForURL(`${lk.base}/console/users`)
  assert.equal(await tab.title(), 'Users · Latchkey console')

  // Keyboard: the skip link comes first and moves the focus to the content.
  await tab.keyboard.press('Tab')
  assert.equal(await tab.evaluate(() => document.activeElement.textContent), 'Skip to content')
  const ring = await tab.evaluate(() => getComputedStyle(document.activeElement).outlineStyle)
  assert.notEqual(ring, 'none', 'the focus is visible')

  // The live search: typing updates the list (htmx) and the address.
  await tab.getByLabel('Search users').fill('ann')
  await tab.waitForURL(/\/console\/users\?q=ann/)
  await tab.getByRole('link', { name: 'ann', exact: true }).waitFor()
  assert.equal(await tab.getByRole('link', { name: 'alan', exact: true }).count(), 0, 'only the match is listed')
  await tab.screenshot({ path: SHOTS + 'console-users-search.png', fullPage: true })
  await accessible(tab, 'users search')

  // Ann has a session in an application of her own.
  const annLogin = await apiLogin('ann', 'ann-password-1')
  assert.equal(annLogin.status, 200)
  const annToken = annLogin.body.access_token
  assert.equal((await lk.json('GET', '/v1/me', null, annToken)).status, 200)

  await tab.getByRole('link', { name: 'ann', exact: true }).click()
  await tab.waitForURL(/\/console\/users\/\d+$/)
  const annPage = tab.url()
  assert.equal(await tab.getByRole('heading', { level: 1 }).textContent(), 'ann')

  // Roles: grant staff, then see it in the API.
  await tab.getByLabel('Grant a role').selectOption('staff')
  await tab.getByRole('button', { name: 'Grant', exact: true }).click()
  await tab.getByRole('status').filter({ hasText: 'Roles updated.' }).waitFor()
  const annId = annPage.split('/').pop()
  let ann = await lk.json('GET', `/v1/users/${annId}`, null, lk.admin)
  assert.deepEqual(ann.body.roles, ['staff'])
  await tab.screenshot({ path: SHOTS + 'console-user.png', fullPage: true })
  await accessible(tab, 'user page')

  // Sessions: end them all; Ann's token is refused from now on.
  await tab.getByRole('button', { name: 'End all sessions' }).click()
  await tab.getByRole('status').filter({ hasText: 'sessions have ended' }).waitFor()
  assert.equal((await lk.json('GET', '/v1/me', null, annToken)).status, 401)

  // Disable, then enable.
  await tab.getByRole('button', { name: 'Disable', exact: true }).click()
  await tab.getByRole('status').filter({ hasText: 'The account is disabled' }).waitFor()
  assert.equal((await apiLogin('ann', 'ann-password-1')).status, 403)
  await tab.getByRole('button', { name: 'Enable', exact: true }).click()
  await tab.getByRole('status').filter({ hasText: 'The account is enabled.' }).waitFor()
  assert.equal((await apiLogin('ann', 'ann-password-1')).status, 200)

  // The delete button asks first, naming the user.
  await tab.getByRole('link', { name: 'Delete', exact: true }).click()
  await tab.getByRole('heading', { name: 'Delete ann?' }).waitFor()
  await tab.screenshot({ path: SHOTS + 'console-user-delete.png' })
  await tab.getByRole('link', { name: 'Keep the user' }).click()
  ann = await lk.json('GET', `/v1/users/${annId}`, null, lk.admin)
  assert.equal(ann.status, 200, 'kept')

  // Applications: register one, see its secret once, delete it.
  await tab.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Applications' }).click()
  await tab.getByText('No applications yet.').waitFor()
  await tab.getByLabel('Name').fill('Team Wiki')
  await tab.getByLabel('Redirect URIs').fill('https://wiki.example/callback')
  await tab.getByRole('button', { name: 'Register application' }).click()
  await tab.getByRole('heading', { name: 'Client secret' }).waitFor()
  const secret = await tab.locator('#client-secret').textContent()
  assert.ok(secret.length >= 32)
  await tab.screenshot({ path: SHOTS + 'console-application-created.png', fullPage: true })
  await accessible(tab, 'application created')
  const clients = await lk.json('GET', '/v1/clients', null, lk.admin)
  assert.equal(clients.body.items.length, 1)
  const clientId = clients.body.items[0].client_id
  await tab.goto(`${lk.base}/console/applications/${clientId}`)
  assert.equal(await tab.getByText(secret).count(), 0, 'the secret is not shown again')
  await tab.getByRole('link', { name: 'Delete application' }).click()
  await tab.getByRole('button', { name: 'Delete Team Wiki' }).click()
  await tab.getByText('No applications yet.').waitFor()
  assert.equal((await lk.json('GET', `/v1/clients/${clientId}`, null, lk.admin)).status, 404)

  // The audit log names the administrator for each of these changes.
  await tab.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Audit log' }).click()
  await tab.getByLabel('Action').fill('client.deleted')
  await tab.getByRole('button', { name: 'Filter' }).click()
  await tab.waitForURL(/action=client.deleted/)
  const row = tab.locator('tbody tr').first()
  assert.match(await row.textContent(), /client\.deleted.*success.*admin/)
  await tab.goto(`${lk.base}/console/audit`)
  await tab.screenshot({ path: SHOTS + 'console-audit.png', fullPage: true })

  // Every page at desktop width: renders, is accessible.
  for (const [path, name, heading] of PAGES) {
    await tab.goto(lk.base + path)
    assert.equal(await tab.getByRole('heading', { level: 1 }).textContent(), heading, path)
    await tab.screenshot({ path: SHOTS + `console-${name}.png`, fullPage: true })
    await accessible(tab, `${path} at 1280 px`)
    // Keyboard: the first Tab reaches the skip link, and following it focuses the content.
    await tab.keyboard.press('Tab')
    assert.equal(await tab.evaluate(() => document.activeElement.className), 'skip', path)
    await tab.keyboard.press('Enter')
    assert.equal(await tab.evaluate(() => document.activeElement.id), 'content', path)
  }
  assert.deepEqual(problems, [], 'no policy violation or script error')
  await ctx.close()
})

test('the console on a phone: every page fits and is accessible', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })
  const tab = await ctx.newPage()
  const problems = watch(tab)
  await tab.goto(`${lk.base}/console`)
  await signIn(tab, 'admin', ADMIN_PASSWORD)
  await tab.waitForURL(`${lk.base}/console`)
  const users = await lk.json('GET', '/v1/users?q=grace', null, lk.admin)
  const graceId = users.body.items[0].id
  const org = await lk.json('POST', '/v1/organizations', { name: 'Analytical Engines' }, lk.admin)
  assert.equal(org.status, 201, JSON.stringify(org.body))
  const app = await lk.json('POST', '/v1/clients', { name: 'Team Portal', redirect_uris: ['https://portal.example/cb'] }, lk.admin)
  assert.equal(app.status, 201, JSON.stringify(app.body))
  const details = [
    [`/console/users/${graceId}`, 'user'],
    [`/console/organizations/${org.body.id}`, 'organization'],
    [`/console/applications/${app.body.client_id}`, 'application'],
    [`/console/users/${graceId}?confirm=delete`, 'user-delete'],
  ]
  for (const [path, name] of [...PAGES, ...details]) {
    await tab.goto(lk.base + path)
    // Nothing but the tables (which scroll in their own region) is wider than the screen.
    const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    assert.ok(overflow <= 0, `${path} is ${overflow}px too wide`)
    await tab.screenshot({ path: SHOTS + `console-phone-${name}.png`, fullPage: true })
    await accessible(tab, `${path} at 390 px`)
  }
  assert.deepEqual(problems, [])
  await ctx.close()
})

test('a user changes their password and ends another session on the account page', async () => {
  const other = await apiLogin('grace', 'grace-password-1')
  assert.equal(other.status, 200)
  for (const viewport of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
    const ctx = await browser.newContext({ viewport })
    const tab = await ctx.newPage()
    const problems = watch(tab)
    const password = viewport.width > 1000 ? 'grace-password-1' : 'grace-password-2'
    await tab.goto(`${lk.base}/account`)
    await signIn(tab, 'grace', password)
    await tab.waitForURL(`${lk.base}/account`)
    assert.equal(await tab.title(), 'Your account · Latchkey')
    await accessible(tab, `account at ${viewport.width} px`)
    if (viewport.width > 1000) {
      // Not an administrator: the console says so.
      const r = await tab.goto(`${lk.base}/console`)
      assert.equal(r.status(), 403)
      await tab.getByText('The console is for administrators.').waitFor()
      await accessible(tab, 'console refused')
      await tab.goto(`${lk.base}/account`)
      // A wrong current password is refused and changes nothing.
      await tab.getByLabel('Current password').first().fill('not-it')
      await tab.getByLabel('New password').fill('grace-password-2')
      await tab.getByRole('button', { name: 'Change password' }).click()
      await tab.getByRole('alert').filter({ hasText: 'The current password is not right.' }).waitFor()
      await tab.getByLabel('Current password').first().fill('grace-password-1')
      await tab.getByLabel('New password').fill('grace-password-2')
      await tab.getByRole('button', { name: 'Change password' }).click()
      await tab.getByRole('status').filter({ hasText: 'Password changed.' }).waitFor()
      assert.equal((await lk.json('GET', '/v1/me', null, other.body.access_token)).status, 401, 'the other session ended')
      assert.equal((await apiLogin('grace', 'grace-password-2')).status, 200)
      await tab.screenshot({ path: SHOTS + 'console-account.png', fullPage: true })
    } else {
      // Another session (the API login just made) is ended from the list.
      const t = (await apiLogin('grace', 'grace-password-2')).body.access_token
      await tab.reload()
      await tab.getByRole('button', { name: 'End session' }).first().click()
      await tab.getByRole('status').filter({ hasText: 'Session ended.' }).waitFor()
      const still = (await lk.json('GET', '/v1/me', null, t)).status
      assert.equal(still, 401)
      await tab.screenshot({ path: SHOTS + 'console-phone-account.png', fullPage: true })
    }
    assert.deepEqual(problems, [])
    await ctx.close()
  }
})
