// GET /ws/:room_id/:user_id: the room socket.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { protocolToken } from '../src/access/auth'
import { clientKey } from '../src/access/client-address'
import { SocketParamsSchema, SocketQuerySchema } from '../src/schemas/http'
import { createAdmission, isValidId } from '../src/socket/admission'
import { CLOSES } from '../src/socket/close-codes'
import { openSocket } from '../src/socket/handler'
import { parseSocketQuery } from '../src/socket/query'

const ws: FastifyPluginAsyncTypebox = async (fastify) => {
  const { chat, registry, presence, config, auth, metrics, refuseForeignOrigin, upgradeRequired, roomQuota } = fastify
  const deps = { chat, registry, presence, config, metrics }
  const admit = createAdmission({ auth, registry, config })
  const newRoomRefused = new WeakMap<object, boolean>()

  fastify.route({
    method: 'GET',
    url: '/ws/:room_id/:user_id',
    schema: { params: SocketParamsSchema, querystring: SocketQuerySchema },
    // Runs before the upgrade: a refused origin never gets a socket.
    onRequest: refuseForeignOrigin,
    // Before the upgrade, where an await loses no frame: the socket handler reads the verdict.
    preHandler: async (request) => {
      const roomId = request.params.room_id
      // An invalid id is the admission's to refuse (4004): it takes no quota.
      if (isValidId(roomId)) newRoomRefused.set(request.raw, !await roomQuota.allows(roomId, clientKey(request.ip)))
    },
    handler: upgradeRequired,
    wsHandler: (socket, request) => {
      const { room_id: roomId, user_id: userId } = request.params
      const log = fastify.log.child({ reqId: request.id, roomId, userId })
      const address = clientKey(request.ip)
      const query = parseSocketQuery(request.query)
      const admitted = admit(roomId, userId, address, protocolToken(request.headers['sec-websocket-protocol']) ?? query.token)
      if ('code' in admitted) {
        log[admitted.log.level](admitted.log.fields ?? {}, admitted.log.msg)
        return socket.close(admitted.code, admitted.reason)
      }
      if (newRoomRefused.get(request.raw) === true) {
        log.warn({ address, limit: config.newRoomsPerIp }, 'websocket refused: too many new rooms from one address')
        return socket.close(CLOSES.tooManyRooms.code, CLOSES.tooManyRooms.reason)
      }
      openSocket(socket, { roomId, userId, address, ...query, grant: admitted.grant }, deps, log)
    }
  })
}

export default ws
