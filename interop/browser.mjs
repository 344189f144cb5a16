// What the browser suites share: Debian's Chromium launched headless, a watch on each tab for
// policy violations and script errors, the application (a relying party on another loopback
// port whose pages show the path and query they were sent to), and the application's half of
// the code flow (the authorization URL with PKCE, the code exchange). Loopback only.

import { createServer } from 'node:http'
import { mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createHash, randomBytes } from 'node:crypto'
import { chromium } from 'playwright-core'
import { freePort } from './server.mjs'

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
export const SHOTS = new URL('../target/browser/', import.meta.url).pathname

export async function launchChromium() {
  mkdirSync(SHOTS, { recursive: true })
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

// Violations of the pages' policy show up as console errors (an answer's status, such as the
// 401 of a wrong password, is logged too, and is not one).
export function watch(tab) {
  const problems = []
  tab.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text()) })
  tab.on('pageerror', (e) => problems.push(String(e)))
  return problems
}

// The application: its callback and signed-out pages show what they received (#q).
export async function startRp() {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const server = createServer((req, res) => {
    const u = new URL(req.url, origin)
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(`<!doctype html><meta charset="utf-8"><title>${u.pathname}</title><h1 id="where">${u.pathname}</h1><pre id="q">${JSON.stringify(Object.fromEntries(u.searchParams))}</pre>`)
  })
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { origin, close: () => server.close() }
}

// An authorization request of `client` from `rp` at `issuer` (the public URL), with PKCE:
// the URL and the verifier the exchange needs.
export function authorizeUrl(issuer, client, rp, { scope = 'openid', state, nonce }) {
  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const q = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: `${rp.origin}/cb`, scope, state, nonce, code_challenge: challenge, code_challenge_method: 'S256' })
  return { url: `${issuer}/oauth/authorize?${q}`, verifier }
}

// The application exchanges a code (client_secret_basic); the response and the ID token's claims.
export async function exchangeCode(lk, client, rp, code, verifier) {
  const r = await fetch(`${lk.base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64') },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${rp.origin}/cb`, code_verifier: verifier }),
  })
  const body = await r.json()
  const claims = body.id_token ? JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url')) : null
  return { status: r.status, body, claims }
}

// axe-core (npm, pinned in package-lock.json) run in the page: the serious and critical
// violations, each with the elements at fault. It is evaluated through the DevTools protocol,
// which the pages' script-src 'self' does not govern, so the policy stays as served.
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
export async function axeViolations(tab) {
  if (!(await tab.evaluate(() => typeof window.axe === 'object'))) await tab.evaluate(AXE)
  const r = await tab.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }))
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(' | ')}`)
}
