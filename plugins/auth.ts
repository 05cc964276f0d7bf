// Decorates auth (null in open mode) and authorize(request, userId).
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { bearerToken, createAuth, type Auth } from '../src/access/auth'
import { ChatError } from '../src/chat/errors'

declare module 'fastify' {
  interface FastifyInstance {
    /** Null in open mode (no AUTH_SECRET), as the seed's client needs. */
    auth: Auth | null
    /** Throws a 401 without a valid bearer token, a 403 for one of another user than `userId` (any user when omitted). */
    authorize (request: FastifyRequest, userId?: string): void
  }
}

export default fp(async function authPlugin (fastify) {
  const { authSecret, authIssuer, authAudience } = fastify.config
  const auth = authSecret === null ? null : createAuth(authSecret, { issuer: authIssuer, audience: authAudience })
  fastify.decorate('auth', auth)
  fastify.decorate('authorize', function authorize (request: FastifyRequest, userId?: string) {
    if (auth === null) return
    const result = auth.check(bearerToken(request.headers.authorization), userId)
    if (result.ok) return
    if (result.impersonation) {
      request.log.warn({ subject: result.subject, userId }, 'impersonation refused')
      throw new ChatError('forbidden_user', result.reason, 403)
    }
    request.log.warn({ reason: result.reason }, 'request refused: no valid token')
    throw new ChatError('unauthorized', result.reason, 401)
  })
}, { name: 'auth', dependencies: ['config'] })
