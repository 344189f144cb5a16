// Starts a real Latchkey for the interoperability tests: the built binary (LATCHKEY_BIN, else
// target/debug/latchkey), a fresh SQLite file, a free loopback port, cheap argon2 parameters.
// Loopback only; stop() ends the process and removes the files.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const ADMIN_PASSWORD = 'interop-admin-password-1'
const BIN = process.env.LATCHKEY_BIN ?? new URL('../target/debug/latchkey', import.meta.url).pathname

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// `host`: the public URL's host (`localhost` where WebAuthn needs a domain name); the
// server still listens on 127.0.0.1, and `base` (for Node's own requests) stays that address.
export async function startLatchkey(extraArgs = [], { host } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'latchkey-interop-'))
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const publicUrl = host ? `http://${host}:${port}` : base
  const args = host ? ['--public-url', publicUrl, ...extraArgs] : extraArgs
  const proc = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--database', join(work, 'interop.db'), ...args], {
    env: {
      ...process.env,
      LATCHKEY_ADMIN_PASSWORD: ADMIN_PASSWORD,
      LATCHKEY_ARGON2_MEMORY_KIB: '64',
      LATCHKEY_ARGON2_ITERATIONS: '1',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  let ready = false
  for (let i = 0; i < 200 && !ready; i++) {
    try {
      ready = (await fetch(base + '/readyz')).ok
    } catch {}
    if (!ready) await new Promise((r) => setTimeout(r, 50))
  }
  if (!ready) {
    proc.kill('SIGKILL')
    throw new Error(`latchkey did not become ready at ${base}`)
  }
  async function json(method, path, body, token) {
    const r = await fetch(base + path, {
      method,
      headers: {
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    })
    const text = await r.text()
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null }
  }
  const login = await json('POST', '/v1/auth/login', { identifier: 'admin', password: ADMIN_PASSWORD })
  if (login.status !== 200) throw new Error(`admin login: ${login.status}`)
  return {
    base,
    publicUrl,
    json,
    admin: login.body.access_token,
    stop() {
      proc.kill('SIGTERM')
      rmSync(work, { recursive: true, force: true })
    },
  }
}
