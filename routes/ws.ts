// GET /ws/:room_id/:user_id: the room socket.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SocketParamsSchema, SocketQuerySchema } from '../src/schemas/http'
import { createAdmission, refuse } from '../src/socket/admission'
import { openSocket } from '../src/socket/handler'
import { parseSocketQuery } from '../src/socket/query'

const ws: FastifyPluginAsyncTypebox = async (fastify) => {
  const { chat, registry, presence, config, auth, metrics, refuseForeignOrigin, upgradeRequired, checkSocketRoomQuota, clientKey } = fastify
  const deps = { chat, registry, presence, config, metrics }
  const admit = createAdmission({ auth, registry, config })

  fastify.route({
    method: 'GET',
    url: '/ws/:room_id/:user_id',
    schema: { params: SocketParamsSchema, querystring: SocketQuerySchema },
    // Runs before the upgrade: a refused origin never gets a socket.
    // Browsers apply no CORS to sockets: the Origin rule is refuseForeignOrigin's, and
    // CORS headers on a 101 would be work for nothing, paid by every connect.
    config: { cors: false },
    onRequest: refuseForeignOrigin,
    preHandler: checkSocketRoomQuota,
    handler: upgradeRequired,
    wsHandler: (socket, request) => {
      const { room_id: roomId, user_id: userId } = request.params
      const log = fastify.log.child({ reqId: request.id, roomId, userId })
      const address = clientKey(request)
      const query = parseSocketQuery(request.query, request.headers['sec-websocket-protocol'])
      const admitted = admit({ roomId, userId, address, token: query.token, newRoomRefused: request.newRoomRefused })
      if ('code' in admitted) return refuse(socket, log, admitted)
      openSocket(socket, { roomId, userId, address, ...query, grant: admitted.grant }, deps, log)
    }
  })
}

export default ws
