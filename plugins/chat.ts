// Decorates chat: what the one message path needs (store, broker, limits, metrics), for REST and sockets alike.
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import type { ChatDeps } from '../src/chat/messages'
import { isValidId } from '../src/socket/admission'
import { createRoomQuota, tooManyRooms, type RoomQuota } from '../src/rooms/room-quota'

declare module 'fastify' {
  interface FastifyInstance {
    chat: ChatDeps
    roomQuota: RoomQuota
    /** Throws a 429 when the request would bring a room into being past its address's quota. */
    checkRoomQuota (request: FastifyRequest, roomId: string): Promise<void>
    /** preHandler of the room socket: the quota's verdict, read by its admission after the upgrade. */
    checkSocketRoomQuota (request: FastifyRequest): Promise<void>
  }
  interface FastifyRequest {
    /** Set by checkSocketRoomQuota: the socket's new room is past its address's quota. */
    newRoomRefused: boolean
  }
}

export default fp(async function chatPlugin (fastify) {
  const { store, broker, config, metrics, clientKey } = fastify
  fastify.decorate('chat', { store, broker, maxContentLength: config.maxContentLength, metrics })
  const roomQuota = createRoomQuota({
    exists: async (roomId) => (await store.roomAccess(roomId)) !== undefined,
    perAddress: config.newRoomsPerIp,
    windowMs: config.newRoomsWindowMs,
    buckets: fastify.limits.buckets
  })
  fastify.decorate('roomQuota', roomQuota)
  fastify.decorate('checkRoomQuota', async function checkRoomQuota (request: FastifyRequest, roomId: string) {
    if (!await roomQuota.allows(roomId, clientKey(request))) throw tooManyRooms(config.newRoomsPerIp, config.newRoomsWindowMs)
  })
  // Before the upgrade, where an await loses no frame. An invalid id is the admission's
  // to refuse (4004) and takes no quota.
  fastify.decorateRequest('newRoomRefused', false)
  fastify.decorate('checkSocketRoomQuota', async function checkSocketRoomQuota (request: FastifyRequest) {
    const roomId = (request.params as { room_id?: unknown }).room_id
    if (isValidId(roomId)) request.newRoomRefused = !await roomQuota.allows(roomId, clientKey(request))
  })
}, { name: 'chat', dependencies: ['config', 'store', 'broker', 'metrics', 'rate-limit', 'limits'] })
