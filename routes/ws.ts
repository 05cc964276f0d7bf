import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { cleanAvatar, cleanUsername } from '../src/chat'
import type { Connection } from '../src/connection-registry'
import { IdSchema, SocketParamsSchema, SocketQuerySchema } from '../src/schemas'
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
      if (!idCheck.Check(roomId) || !idCheck.Check(userId)) {
        // 4004 makes the client stop reconnecting: this URL can never succeed.
        log.info('websocket refused: invalid room or user id')
        socket.close(4004, 'invalid room or user id')
        return
      }

      const connection: Connection = { id: randomUUID(), roomId, userId, send: (data) => socket.send(data) }
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
        roomId,
        userId,
        connectionId: connection.id,
        after: ready,
        reply: (frame) => socket.send(JSON.stringify(frame)),
        log
      })

      // Listeners go on before any await: frames that arrive meanwhile are queued, not lost.
      socket.on('message', (data, isBinary) => session.handle(data as Buffer, isBinary))
      socket.on('close', (code) => {
        log.info({ code }, 'websocket closed')
        Promise.all([registry.remove(connection), session.end()])
          .catch((err) => log.error({ err }, 'websocket cleanup failed'))
      })
      ready.catch((err) => {
        log.error({ err }, 'websocket registration failed')
        socket.close(1011, 'registration failed')
      })
    }
  })
}

export default ws
