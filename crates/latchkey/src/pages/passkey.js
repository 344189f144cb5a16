// Latchkey's passkey buttons, the hosted pages' only script. On the sign-in code step, "Use a
// passkey" asks for this sign-in's options, lets the browser's passkey answer, and posts the
// answer with the form; "Sign in with a passkey" does the same without a password; on the
// account page, "Add a passkey" does it for a registration. The server checks everything; this only carries the ceremony.
(() => {
  'use strict'
  const say = (msg) => {
    const el = document.getElementById('passkey-error')
    if (el) { el.textContent = msg; el.hidden = false }
  }
  const supported = () => window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON

  const use = document.getElementById('use-passkey')
  if (use) {
    use.addEventListener('click', async () => {
      if (!supported()) return say('This browser cannot use passkeys. Enter a code instead.')
      const form = use.closest('form')
      try {
        const r = await fetch(use.dataset.options, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ mfa_token: form.elements.mfa_token.value }),
        })
        const body = await r.json()
        if (!r.ok) return say(body.detail || 'Passkeys cannot be used for this sign-in. Enter a code.')
        const options = PublicKeyCredential.parseRequestOptionsFromJSON(body.publicKey)
        const credential = await navigator.credentials.get({ publicKey: options })
        form.elements.credential.value = JSON.stringify(credential.toJSON())
        form.submit()
      } catch (e) {
        say('The passkey did not answer. Try again, or enter a code.')
      }
    })
  }

  const signIn = document.getElementById('passkey-sign-in')
  if (signIn) {
    signIn.addEventListener('click', async () => {
      if (!supported()) return say('This browser cannot use passkeys. Sign in with your password.')
      const form = signIn.closest('form')
      try {
        const r = await fetch(signIn.dataset.options, { method: 'POST', credentials: 'same-origin' })
        const body = await r.json()
        if (!r.ok) return say(body.detail || 'Passkeys cannot be used here. Sign in with your password.')
        const options = PublicKeyCredential.parseRequestOptionsFromJSON(body.options.publicKey)
        const credential = await navigator.credentials.get({ publicKey: options })
        form.elements.passkey_token.value = body.passkey_token
        form.elements.credential.value = JSON.stringify(credential.toJSON())
        form.submit()
      } catch (e) {
        say('The passkey did not answer. Try again, or sign in with your password.')
      }
    })
  }

  const add = document.getElementById('add-passkey')
  if (add) {
    add.addEventListener('click', async () => {
      if (!supported()) return say('This browser cannot create passkeys.')
      const form = add.closest('form')
      const name = form.elements.name.value.trim()
      if (!name) { form.elements.name.focus(); return say('Name the passkey first (e.g. Work laptop).') }
      try {
        const r = await fetch(add.dataset.options, {
          method: 'POST',
          credentials: 'same-origin',
          body: new URLSearchParams({ csrf: form.elements.csrf.value, name }),
        })
        const body = await r.json()
        if (body.reauth) { window.location.assign(body.reauth); return }
        if (!r.ok) return say(body.error || 'A passkey cannot be added right now.')
        const options = PublicKeyCredential.parseCreationOptionsFromJSON(body.publicKey)
        const credential = await navigator.credentials.create({ publicKey: options })
        form.elements.credential.value = JSON.stringify(credential.toJSON())
        form.submit()
      } catch (e) {
        say('The passkey was not created. Try again.')
      }
    })
  }
})()
