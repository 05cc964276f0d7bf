// Signed tokens (HS256 JWTs): the one token check for REST and sockets.
import { createSigner, createVerifier } from 'fast-jwt'

/**
 * Optional signed tokens, the Centrifugo model: the app's own backend mints an
 * HS256 JWT whose `sub` is the user id, and Parley only verifies it.
 */
export function createAuth (secret: string) {
  const verifier = createVerifier({ key: secret, algorithms: ['HS256'], cache: 1000 })
  const signer = createSigner({ key: secret, algorithm: 'HS256' })

  return {
    /** The token's user id, or an Error saying why the token is refused. */
    subject (token: string | undefined): string | Error {
      if (!token) return new Error('a token is required')
      try {
        const { sub } = verifier(token) as { sub?: unknown }
        if (typeof sub !== 'string' || sub === '') return new Error('the token has no sub')
        return sub
      } catch (err) {
        return new Error(`the token is not valid: ${(err as { code?: string }).code ?? 'invalid'}`)
      }
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
