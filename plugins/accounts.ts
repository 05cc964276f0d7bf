// Decorates accounts: the signing of account tokens, the token check of a request, and the login limiter.
import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { bearerToken, createAuth, refusalError } from '../src/access/auth'
import { createLoginLimiter } from '../src/accounts/login-limiter'

declare module 'fastify' {
  interface FastifyInstance {
    accounts: {
      /** A token for the account or guest `userId`, valid for ACCOUNT_TOKEN_TTL_S. */
      sign (userId: string): string
      /** The user id of the request's valid token, or null: for reads that need none. */
      tokenUser (request: FastifyRequest): string | null
      /**
       * Requires a valid token for `userId`: 401 when it is missing, invalid or expired
       * (the client logs out on a 401, so never for anything else), 403 when it is
       * someone else's.
       */
      requireOwner (request: FastifyRequest, userId: string): void
      limiter: ReturnType<typeof createLoginLimiter>
    }
  }
}

export default fp(async function accountsPlugin (fastify) {
  const { config, store } = fastify
  // With AUTH_SECRET, account tokens are Parley's tokens. Without, a key Parley makes
  // once and keeps in its store: a restart (or another instance) logs nobody out.
  const secret = config.authSecret ?? await store.setting('token_signing_key', () => randomBytes(32).toString('hex'))
  const auth = createAuth(secret, { issuer: config.authIssuer, audience: config.authAudience })
  fastify.decorate('accounts', {
    sign: (userId: string) => auth.sign(userId, config.accountTokenTtlS),
    tokenUser (request: FastifyRequest) {
      const result = auth.check(bearerToken(request.headers.authorization))
      return result.ok ? result.subject : null
    },
    requireOwner (request: FastifyRequest, userId: string) {
      const result = auth.check(bearerToken(request.headers.authorization), userId)
      if (!result.ok) throw refusalError(result, request.log, { userId })
    },
    limiter: createLoginLimiter({ perName: config.loginAttemptsPerName, perAddress: config.loginAttemptsPerIp, windowMs: config.loginWindowMs }, fastify.limits.buckets)
  })
}, { name: 'accounts', dependencies: ['config', 'store', 'limits'] })
