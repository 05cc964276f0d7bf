// Decorates auth (null in open mode) and authorize(request, userId).
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { bearerToken, createAuth, type Auth } from '../src/access/auth'
import { ChatError } from '../src/chat/errors'

declare module 'fastify' {
  interface FastifyInstance {
    /** Null in open mode (no AUTH_SECRET), as the seed's client needs. */
    auth: Auth | null
    /** Throws a 401 unless the request's bearer token is for `userId` (any user when omitted). */
    authorize (request: FastifyRequest, userId?: string): void
  }
}

export default fp(async function authPlugin (fastify) {
  const { authSecret } = fastify.config
  const auth = authSecret === null ? null : createAuth(authSecret)
  fastify.decorate('auth', auth)
  fastify.decorate('authorize', function authorize (request: FastifyRequest, userId?: string) {
    if (auth === null) return
    const subject = auth.subject(bearerToken(request.headers.authorization))
    if (subject instanceof Error) {
      request.log.warn({ reason: subject.message }, 'request refused: no valid token')
      throw new ChatError('unauthorized', subject.message, 401)
    }
    if (userId !== undefined && subject !== userId) {
      request.log.warn({ subject, userId }, 'impersonation refused')
      throw new ChatError('forbidden_user', 'the token is not for this user_id', 401)
    }
  })
}, { name: 'auth', dependencies: ['config'] })
