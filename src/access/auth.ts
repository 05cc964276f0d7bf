// Signed tokens (HS256 JWTs): the one token check for REST and sockets.
import { createSigner, createVerifier } from 'fast-jwt'

/** Why a token is refused, as REST messages and socket close reasons say it. */
export const TOKEN_REFUSALS = {
  missing: 'a token is required',
  invalid: 'the token is not valid: <code>',
  noSubject: 'the token has no sub',
  otherUser: 'the token is not for this user'
} as const

export type TokenCheck =
  | { ok: true, subject: string }
  | { ok: false, reason: string, impersonation: boolean, subject?: string }

/**
 * Optional signed tokens, the Centrifugo model: the app's own backend mints an
 * HS256 JWT whose `sub` is the user id, and Parley only verifies it.
 */
export function createAuth (secret: string, { issuer = null, audience = null }: { issuer?: string | null, audience?: string | null } = {}) {
  // A token without exp would never expire: refused. Issuer and audience, when
  // configured, must match (and are put in the tokens Parley signs).
  const verifier = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    cache: 1000,
    requiredClaims: ['exp', ...(issuer === null ? [] : ['iss']), ...(audience === null ? [] : ['aud'])],
    ...(issuer === null ? {} : { allowedIss: issuer }),
    ...(audience === null ? {} : { allowedAud: audience })
  })
  const signer = createSigner({ key: secret, algorithm: 'HS256', ...(issuer === null ? {} : { iss: issuer }), ...(audience === null ? {} : { aud: audience }) })

  function subject (token: string | undefined): string | Error {
    if (!token) return new Error(TOKEN_REFUSALS.missing)
    try {
      const { sub } = verifier(token) as { sub?: unknown }
      if (typeof sub !== 'string' || sub === '') return new Error(TOKEN_REFUSALS.noSubject)
      return sub
    } catch (err) {
      return new Error(TOKEN_REFUSALS.invalid.replace('<code>', (err as { code?: string }).code ?? 'invalid'))
    }
  }

  return {
    subject,

    /** The one token check: valid, and for `userId` when one is given. */
    check (token: string | undefined, userId?: string): TokenCheck {
      const sub = subject(token)
      if (sub instanceof Error) return { ok: false, reason: sub.message, impersonation: false }
      if (userId !== undefined && sub !== userId) return { ok: false, reason: TOKEN_REFUSALS.otherUser, impersonation: true, subject: sub }
      return { ok: true, subject: sub }
    },

    /** A token for `userId`, valid for `ttlSeconds`: for development and tests. */
    sign (userId: string, ttlSeconds = 3600): string {
      return signer({ sub: userId, exp: Math.floor(Date.now() / 1000) + ttlSeconds })
    }
  }
}

export type Auth = ReturnType<typeof createAuth>

/** The bearer token of an Authorization header, if there is one. */
export function bearerToken (header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '')
  return match?.[1]
}

/**
 * A request URL fit for a log: every `token` query value (however its name is
 * percent-encoded: the query parser decodes `%74oken` to `token`) replaced.
 */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = new URLSearchParams(url.slice(q + 1))
  let redacted = false
  for (const key of new Set(params.keys())) {
    if (key.toLowerCase() === 'token') {
      params.set(key, 'redacted')
      redacted = true
    }
  }
  return redacted ? `${url.slice(0, q)}?${params.toString()}` : url
}
