import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { cleanAvatar, cleanUsername } from '../src/chat'
import { IdSchema, SocketParamsSchema, SocketQuerySchema } from '../src/schemas'
import { createSocketConnection } from '../src/socket-connection'
import { createSocketSession } from '../src/socket-session'

const idCheck = TypeCompiler.Compile(IdSchema)
const firstValue = (value: unknown) => (Array.isArray(value) ? value[0] : value)

const ws: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, broker, registry, config, isAllowedOrigin } = fastify
  const chat = { store, broker, maxContentLength: config.maxContentLength }

  fastify.route({
    method: 'GET',
    url: '/ws/:room_id/:user_id',
    schema: { params: SocketParamsSchema, querystring: SocketQuerySchema },
    // Runs before the upgrade: a refused origin never gets a socket.
    onRequest: async (request, reply) => {
      const { origin } = request.headers
      if (!isAllowedOrigin(origin)) {
        request.log.warn({ origin }, 'websocket origin refused')
        return reply.code(403).send({ error: 'Forbidden', message: `origin ${origin} is not allowed` })
      }
    },
    handler: async (_request, reply) => {
      return reply.code(426).send({ error: 'Upgrade Required', message: 'this endpoint speaks WebSocket' })
    },
    wsHandler: (socket, request) => {
      const { room_id: roomId, user_id: userId } = request.params
      const log = request.log.child({ roomId, userId })
      const address = request.ip ?? 'unknown'
      // Refusals are close codes, not HTTP statuses: a browser sees only the code.
      if (!idCheck.Check(roomId) || !idCheck.Check(userId)) {
        // 4004 makes the client stop reconnecting: this URL can never succeed.
        log.info('websocket refused: invalid room or user id')
        return socket.close(4004, 'invalid room or user id')
      }
      if (registry.connections(roomId).size >= config.maxSocketsPerRoom) {
        log.warn({ limit: config.maxSocketsPerRoom }, 'websocket refused: room is full')
        return socket.close(1013, 'room is full; try again later')
      }
      if (registry.countFrom(address) >= config.maxSocketsPerIp) {
        log.warn({ address, limit: config.maxSocketsPerIp }, 'websocket refused: too many sockets from one address')
        return socket.close(1008, 'too many connections from this address')
      }

      const connection = createSocketConnection({
        socket,
        id: randomUUID(),
        roomId,
        userId,
        address,
        maxBufferedBytes: config.maxBufferedBytes,
        onSlow: () => {
          // Out of the room at once, so no more bytes pile up; then the close.
          log.warn({ buffered: socket.bufferedAmount }, 'slow consumer cut')
          registry.remove(connection).catch((err) => log.error({ err }, 'registry removal failed'))
          connection.close(1013, 'slow consumer')
        }
      })
      // A socket's query values only fill what the profile is missing; bad ones are ignored.
      const registered = store.upsertProfile(roomId, userId, {
        username: cleanUsername(firstValue(request.query.username)),
        avatarUrl: cleanAvatar(firstValue(request.query.avatar_url))
      }, 'fill').then(({ created }) => {
        if (created) log.info(`✅ Auto-registered user ${userId}`)
      })
      // Frames wait for both, so a first message is stored with the profile and echoed back.
      const ready = Promise.all([registered, registry.add(connection)])
      const session = createSocketSession({
        deps: chat,
        limits: config,
        roomId,
        userId,
        connectionId: connection.id,
        after: ready,
        reply: (frame) => socket.send(JSON.stringify(frame)),
        onAbuse: () => connection.close(1008, 'rate limit exceeded'),
        log
      })

      // Listeners go on before any await: frames that arrive meanwhile are queued, not lost.
      socket.on('message', (data, isBinary) => session.handle(data as Buffer, isBinary))
      socket.on('close', (code) => {
        log.info({ code }, 'websocket closed')
        session.end()
          .finally(() => registry.remove(connection))
          .catch((err) => log.error({ err }, 'websocket cleanup failed'))
      })
      ready.catch((err) => {
        log.error({ err }, 'websocket registration failed')
        connection.close(1011, 'registration failed')
      })
    }
  })
}

export default ws
