// Mail in a real browser (Debian's Chromium, driven by playwright-core), delivered by
// Latchkey's SMTP client to a real SMTP server (nodemailer's smtp-server) and read back with
// mailparser: a user who forgot their password asks for a link on the sign-in page, opens the
// link from the mail, chooses a new password and signs in with it; a new user confirms their
// address from the verification mail. Screenshots land in target/browser/. Loopback only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { SMTPServer } from 'smtp-server'
import { simpleParser } from 'mailparser'
import { startLatchkey, freePort } from './server.mjs'
import { SHOTS, launchChromium, watch } from './browser.mjs'

let lk, browser, smtp
const inbox = []

// Waits (at most ten seconds) for a mail to `to` whose subject matches.
async function mailTo(to, subject) {
  for (let i = 0; i < 100; i++) {
    const m = inbox.find((m) => m.to === to && subject.test(m.subject))
    if (m) return m
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no mail to ${to} matching ${subject}; inbox: ${JSON.stringify(inbox.map((m) => [m.to, m.subject]))}`)
}

const linkIn = (mail) => mail.text.match(/https?:\/\/\S+token=[A-Za-z0-9_-]+/)[0]

before(async () => {
  const port = await freePort()
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream).then((m) => {
        inbox.push({ to: session.envelope.rcptTo[0].address, subject: m.subject, text: m.text, html: m.html })
        callback()
      }, callback)
    },
  })
  await new Promise((r) => smtp.listen(port, '127.0.0.1', r))
  lk = await startLatchkey(['--smtp-url', `smtp://127.0.0.1:${port}`, '--mail-from', 'Example ID <id@example.com>', '--product-name', 'Example ID'])
  const r = await lk.json('POST', '/v1/users', { username: 'hedy', email: 'hedy@example.com', password: 'hedy-password-1' }, lk.admin)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  lk?.stop()
  await new Promise((r) => (smtp ? smtp.close(r) : r()))
})

test('reset a forgotten password from the mail, then sign in with the new one', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } })
  const tab = await ctx.newPage()
  const problems = watch(tab)
  await tab.goto(`${lk.base}/login`)
  await tab.screenshot({ path: SHOTS + 'mail-login-link.png', fullPage: true })
  await tab.getByRole('link', { name: 'Forgot your password?' }).click()
  await tab.waitForURL(`${lk.base}/forgot-password`)
  assert.equal(await tab.title(), 'Forgot your password? · Latchkey')
  await tab.getByLabel('Email address').fill('hedy@example.com')
  await tab.screenshot({ path: SHOTS + 'mail-forgot.png', fullPage: true })
  await tab.getByRole('button', { name: 'Send the link' }).click()
  await tab.getByRole('heading', { name: 'Check your inbox' }).waitFor()
  assert.match(await tab.locator('main').innerText(), /If an account has this address/)
  await tab.screenshot({ path: SHOTS + 'mail-check-inbox.png', fullPage: true })

  const mail = await mailTo('hedy@example.com', /Reset your Example ID password/)
  const link = linkIn(mail)
  assert.ok(link.startsWith(`${lk.base}/reset-password?token=`), link)
  assert.match(mail.html, /Choose a new password/)
  await tab.goto(link)
  await tab.getByRole('heading', { name: 'Choose a new password' }).waitFor()
  assert.match(await tab.locator('.lead').innerText(), /hedy/)
  await tab.screenshot({ path: SHOTS + 'mail-reset-form.png', fullPage: true })

  // Two different passwords: told so, nothing used up.
  await tab.getByLabel('New password', { exact: true }).fill('a-brand-new-pass-1')
  await tab.getByLabel('New password again').fill('a-different-pass-1')
  await tab.getByRole('button', { name: 'Save the new password' }).click()
  await tab.getByRole('alert').waitFor()
  assert.match(await tab.getByRole('alert').innerText(), /not the same/)
  await tab.screenshot({ path: SHOTS + 'mail-reset-mismatch.png', fullPage: true })

  await tab.getByLabel('New password', { exact: true }).fill('a-brand-new-pass-1')
  await tab.getByLabel('New password again').fill('a-brand-new-pass-1')
  await tab.getByRole('button', { name: 'Save the new password' }).click()
  await tab.getByRole('heading', { name: 'Password saved' }).waitFor()
  await tab.screenshot({ path: SHOTS + 'mail-reset-done.png', fullPage: true })

  // The link is spent.
  await tab.goto(link)
  await tab.getByRole('heading', { name: 'This link no longer works' }).waitFor()
  await tab.screenshot({ path: SHOTS + 'mail-reset-spent.png', fullPage: true })

  // Signing in: the old password no longer works, the new one does.
  await tab.goto(`${lk.base}/login`)
  await tab.getByLabel('Username or email').fill('hedy')
  await tab.getByLabel('Password').fill('hedy-password-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.getByRole('alert').waitFor()
  await tab.getByLabel('Username or email').fill('hedy')
  await tab.getByLabel('Password').fill('a-brand-new-pass-1')
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click()
  await tab.getByText('hedy').first().waitFor()
  const me = await lk.json('POST', '/v1/auth/login', { identifier: 'hedy', password: 'a-brand-new-pass-1' })
  assert.equal(me.status, 200)
  assert.equal(me.body.user.email_verified, true)
  assert.deepEqual(problems, [])
  await ctx.close()
})

test('confirm a new address from the verification mail (on a phone)', async () => {
  const r = await lk.json('POST', '/v1/auth/register', { username: 'ida', email: 'ida@example.com', password: 'ida-password-12' })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  assert.equal(r.body.email_verified, false)
  const mail = await mailTo('ida@example.com', /Confirm your email address/)
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })
  const tab = await ctx.newPage()
  const problems = watch(tab)
  await tab.goto(linkIn(mail))
  // Opening the link alone changes nothing (mail scanners open links): a person confirms.
  await tab.getByRole('heading', { name: 'Confirm your email address' }).waitFor()
  let login = await lk.json('POST', '/v1/auth/login', { identifier: 'ida', password: 'ida-password-12' })
  assert.equal(login.body.user.email_verified, false)
  await tab.screenshot({ path: SHOTS + 'mail-verify-phone.png', fullPage: true })
  await tab.getByRole('button', { name: 'Confirm my address' }).click()
  await tab.getByRole('heading', { name: 'Address confirmed' }).waitFor()
  await tab.screenshot({ path: SHOTS + 'mail-verified-phone.png', fullPage: true })
  login = await lk.json('POST', '/v1/auth/login', { identifier: 'ida', password: 'ida-password-12' })
  assert.equal(login.body.user.email_verified, true)
  assert.deepEqual(problems, [])
  await ctx.close()
})
