// A front-end in a real browser (Debian's Chromium, driven by playwright-core) calling
// Latchkey from another origin, as front-ends written for the origin services do: axios-style
// credentialed requests (`credentials: 'include'`), JSON bodies (so a preflight), an admin's
// edit. Chromium enforces CORS; the test reads what the page could and could not do.
// Screenshots land in target/browser/. Loopback only.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { ADMIN_PASSWORD, freePort, startLatchkey } from './server.mjs'
import { SHOTS, launchChromium } from './browser.mjs'

let lk, browser, front, frontOrigin, stranger, strangerOrigin

// The front-end: logs in, reads the profile and changes it, each with credentials included.
function page(api) {
  return `<!doctype html><meta charset="utf-8"><title>front-end</title>
<style>body{font:16px system-ui;margin:2em} pre{background:#eee;padding:1em;white-space:pre-wrap;word-break:break-all}</style>
<h1>A front-end on another origin</h1><pre id="out">running…</pre>
<script>
const api = ${JSON.stringify(api)}
const out = {}
async function call(name, path, init) {
  try {
    const r = await fetch(api + path, { credentials: 'include', ...init })
    out[name] = { status: r.status, body: await r.json() }
  } catch (e) {
    out[name] = { blocked: String(e) }
  }
}
;(async () => {
  await call('login', '/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ identifier: 'admin', password: ${JSON.stringify(ADMIN_PASSWORD)} }) })
  const token = out.login.body && out.login.body.access_token
  if (token) {
    const auth = { authorization: 'Bearer ' + token }
    await call('me', '/v1/me', { headers: auth })
    await call('edit', '/v1/me', { method: 'PATCH', headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ display_name: 'Edited from the browser' }) })
  }
  // Shown without the tokens themselves (the test reads statuses and profiles).
  document.getElementById('out').textContent = JSON.stringify(out, (k, v) => (k.endsWith('_token') ? '…' : v), 2)
  document.title = 'done'
})()
</script>`
}

function serve(port, html) {
  const s = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(html)
  })
  return new Promise((resolve) => s.listen(port, '127.0.0.1', () => resolve(s)))
}

before(async () => {
  const [fp, sp] = [await freePort(), await freePort()]
  frontOrigin = `http://127.0.0.1:${fp}`
  strangerOrigin = `http://127.0.0.1:${sp}`
  lk = await startLatchkey(['--cors-origin', frontOrigin])
  front = await serve(fp, page(lk.base))
  stranger = await serve(sp, page(lk.base))
  browser = await launchChromium()

})

after(async () => {
  await browser?.close()
  front?.close()
  stranger?.close()
  lk?.stop()
})

async function run(origin, shot) {
  const tab = await browser.newPage({ viewport: { width: 900, height: 700 } })
  await tab.goto(origin + '/')
  await tab.waitForFunction(() => document.title === 'done', null, { timeout: 15000 })
  const out = JSON.parse(await tab.textContent('#out'))
  await tab.screenshot({ path: SHOTS + shot, fullPage: true })
  await tab.close()
  return out
}

test('a named origin makes credentialed, preflighted calls, and the edit arrives', async () => {
  const out = await run(frontOrigin, 'cors-allowed.png')
  assert.equal(out.login.status, 200, JSON.stringify(out))
  assert.equal(out.me.status, 200)
  assert.equal(out.me.body.username, 'admin')
  assert.equal(out.edit.status, 200, JSON.stringify(out.edit))
  const me = await lk.json('GET', '/v1/me', null, lk.admin)
  assert.equal(me.body.profile?.display_name ?? me.body.display_name, 'Edited from the browser')
})

test('any other origin is refused by the browser and changes nothing', async () => {
  const before = await lk.json('GET', '/v1/me', null, lk.admin)
  const out = await run(strangerOrigin, 'cors-refused.png')
  assert.ok(out.login.blocked, JSON.stringify(out))
  assert.equal(out.me, undefined)
  const afterwards = await lk.json('GET', '/v1/me', null, lk.admin)
  assert.deepEqual(afterwards.body, before.body)
})
