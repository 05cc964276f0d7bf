// GET /ws/:room_id/:user_id: the room socket.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { cleanAvatar, cleanUsername } from '../src/chat/text'
import { IdSchema, SocketParamsSchema, SocketQuerySchema } from '../src/schemas/http'
import { openSocket } from '../src/socket/handler'

const idCheck = TypeCompiler.Compile(IdSchema)
const firstValue = (value: unknown) => (Array.isArray(value) ? value[0] : value)
const seqValue = (value: unknown) => {
  const text = firstValue(value)
  return typeof text === 'string' && /^\d{1,15}$/.test(text) ? Number(text) : undefined
}
const flagValue = (value: unknown) => ['1', 'true', 'yes'].includes(String(firstValue(value)))

const ws: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, broker, registry, presence, config, auth, isAllowedOrigin, metrics } = fastify
  const deps = { chat: { store, broker, maxContentLength: config.maxContentLength, metrics }, registry, presence, config, metrics }

  fastify.route({
    method: 'GET',
    url: '/ws/:room_id/:user_id',
    schema: { params: SocketParamsSchema, querystring: SocketQuerySchema },
    // Runs before the upgrade: a refused origin never gets a socket.
    onRequest: async (request, reply) => {
      const { origin, host } = request.headers
      if (!isAllowedOrigin(origin, host)) {
        request.log.warn({ origin }, 'websocket origin refused')
        return reply.code(403).send({ error: 'Forbidden', message: `origin ${origin} is not allowed` })
      }
    },
    handler: async (_request, reply) => {
      return reply.code(426).send({ error: 'Upgrade Required', message: 'this endpoint speaks WebSocket' })
    },
    wsHandler: (socket, request) => {
      const { room_id: roomId, user_id: userId } = request.params
      const { query } = request
      const log = fastify.log.child({ reqId: request.id, roomId, userId })
      const address = request.ip ?? 'unknown'
      // Refusals are close codes, not HTTP statuses: a browser sees only the code.
      if (!idCheck.Check(roomId) || !idCheck.Check(userId)) {
        // 4004 makes the client stop reconnecting: this URL can never succeed.
        log.info('websocket refused: invalid room or user id')
        return socket.close(4004, 'invalid room or user id')
      }
      if (auth !== null) {
        // Policy, not "never": 1008 lets the client reconnect once it has a fresh token.
        const subject = auth.subject(typeof firstValue(query.token) === 'string' ? firstValue(query.token) : undefined)
        if (subject instanceof Error || subject !== userId) {
          log.warn({ reason: subject instanceof Error ? subject.message : `token is for ${subject}` }, 'websocket refused: token')
          return socket.close(1008, subject instanceof Error ? subject.message : 'the token is not for this user')
        }
      }
      if (registry.connections(roomId).size >= config.maxSocketsPerRoom) {
        log.warn({ limit: config.maxSocketsPerRoom }, 'websocket refused: room is full')
        return socket.close(1013, 'room is full; try again later')
      }
      if (registry.countFrom(address) >= config.maxSocketsPerIp) {
        log.warn({ address, limit: config.maxSocketsPerIp }, 'websocket refused: too many sockets from one address')
        return socket.close(1008, 'too many connections from this address')
      }
      // Query values are never a reason to refuse: a bad one is ignored (DESIGN §1).
      openSocket(socket, {
        roomId,
        userId,
        address,
        username: cleanUsername(firstValue(query.username)),
        avatarUrl: cleanAvatar(firstValue(query.avatar_url)),
        since: seqValue(query.since),
        presence: flagValue(query.presence)
      }, deps, log)
    }
  })
}

export default ws
