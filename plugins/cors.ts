// Registers @fastify/cors with the one origin rule; decorates the socket routes' origin check.
import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import type { FastifyReply, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest of the socket routes: browsers apply no CORS to sockets, so a foreign origin is refused here, before the upgrade. */
    refuseForeignOrigin (request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** The handler of a socket route hit without an upgrade. */
    upgradeRequired (request: FastifyRequest, reply: FastifyReply): Promise<void>
  }
  interface FastifyContextConfig {
    /** false: @fastify/cors skips the route (read by @fastify/cors, not declared by it). */
    cors?: false
  }
}

export default fp(async function corsPlugin (fastify) {
  const { isAllowedOrigin } = fastify
  // Echoes an allowed origin with credentials; never `*`. A refused origin gets no
  // CORS headers, so the browser blocks the response.
  await fastify.register(cors, {
    origin: (origin, cb) => cb(null, isAllowedOrigin(origin)),
    credentials: true,
    // The current client edits profiles (PUT) and deletes (DELETE, with a JSON body);
    // its avatar uploads send X-User-Id.
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['content-type', 'authorization', 'x-user-id', 'idempotency-key'],
    maxAge: 600
  })

  fastify.decorate('refuseForeignOrigin', async function refuseForeignOrigin (request: FastifyRequest, reply: FastifyReply) {
    const { origin } = request.headers
    if (!isAllowedOrigin(origin, () => request.raw.socket?.localPort)) {
      request.log.warn({ origin }, 'websocket origin refused')
      return reply.code(403).send({ error: 'Forbidden', message: `origin ${origin} is not allowed` })
    }
  })
  fastify.decorate('upgradeRequired', async function upgradeRequired (_request: FastifyRequest, reply: FastifyReply) {
    return reply.code(426).send({ error: 'Upgrade Required', message: 'this endpoint speaks WebSocket' })
  })
}, { name: 'cors', dependencies: ['config'] })
