// Decorates chat: what the one message path needs (store, broker, limits, metrics), for REST and sockets alike.
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { clientKey } from '../src/access/client-address'
import type { ChatDeps } from '../src/chat/messages'
import { createRoomQuota, tooManyRooms, type RoomQuota } from '../src/rooms/room-quota'

declare module 'fastify' {
  interface FastifyInstance {
    chat: ChatDeps
    roomQuota: RoomQuota
    /** Throws a 429 when the request would bring a room into being past its address's quota. */
    checkRoomQuota (request: FastifyRequest, roomId: string): Promise<void>
  }
}

export default fp(async function chatPlugin (fastify) {
  const { store, broker, config, metrics } = fastify
  fastify.decorate('chat', { store, broker, maxContentLength: config.maxContentLength, metrics })
  const roomQuota = createRoomQuota({
    exists: async (roomId) => (await store.roomAccess(roomId)) !== undefined,
    perAddress: config.newRoomsPerIp,
    windowMs: config.newRoomsWindowMs
  })
  fastify.decorate('roomQuota', roomQuota)
  fastify.decorate('checkRoomQuota', async function checkRoomQuota (request: FastifyRequest, roomId: string) {
    if (!await roomQuota.allows(roomId, clientKey(request.ip))) throw tooManyRooms(config.newRoomsPerIp, config.newRoomsWindowMs)
  })
}, { name: 'chat', dependencies: ['config', 'store', 'broker', 'metrics'] })
