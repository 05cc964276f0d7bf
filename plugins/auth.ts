// Decorates auth (null in open mode), authorize (writes) and authorizeRead (reads).
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { bearerToken, createAuth, refusalError, type Auth, type TokenGrant } from '../src/access/auth'

declare module 'fastify' {
  interface FastifyInstance {
    /** Null in open mode (no AUTH_SECRET), as the seed's client needs. */
    auth: Auth | null
    /**
     * Throws a 401 without a valid bearer token, a 403 for a token of another user than
     * `userId` (any user when omitted) or one whose rooms claim leaves out `roomId`.
     * The grant, or null in open mode.
     */
    authorize (request: FastifyRequest, userId?: string, roomId?: string): TokenGrant | null
    /** authorize for a read: with AUTH_SECRET, unless PUBLIC_READS, reads need a token too. */
    authorizeRead (request: FastifyRequest, roomId?: string): TokenGrant | null
  }
}

export default fp(async function authPlugin (fastify) {
  const { authSecret, authIssuer, authAudience, publicReads } = fastify.config
  const auth = authSecret === null ? null : createAuth(authSecret, { issuer: authIssuer, audience: authAudience })

  function authorize (request: FastifyRequest, userId?: string, roomId?: string): TokenGrant | null {
    if (auth === null) return null
    const result = auth.check(bearerToken(request.headers.authorization), userId, roomId)
    if (result.ok) return result
    throw refusalError(result, request.log, { userId, roomId })
  }

  fastify.decorate('auth', auth)
  fastify.decorate('authorize', authorize)
  fastify.decorate('authorizeRead', function authorizeRead (request: FastifyRequest, roomId?: string) {
    return publicReads ? null : authorize(request, undefined, roomId)
  })
}, { name: 'auth', dependencies: ['config'] })
