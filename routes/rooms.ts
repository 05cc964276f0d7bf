import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sendMessage } from '../src/chat'
import {
  ErrorSchema, HistoryQuerySchema, JoinBodySchema, JoinReplySchema,
  MessageBodySchema, MessageListSchema, MessageSchema, RoomParamsSchema
} from '../src/schemas'

const DEFAULT_PAGE = 100

const rooms: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, broker, config } = fastify
  const chat = { store, broker, maxContentLength: config.maxContentLength }

  fastify.post('/rooms/:room_id/join', {
    schema: {
      params: RoomParamsSchema,
      body: JoinBodySchema,
      response: { 200: JoinReplySchema, 400: ErrorSchema }
    }
  }, async (request) => {
    const { room_id: roomId } = request.params
    const { user_id: userId, username, avatar_url: avatarUrl } = request.body
    // An explicit join sets the profile, but only with real values (DESIGN §1).
    const { created } = await store.upsertProfile(roomId, userId, { username: username?.trim(), avatarUrl }, 'set')
    request.log.info({ roomId, userId, created }, 'user joined room')
    return { status: 'success' as const, room_id: roomId, user_id: userId }
  })

  fastify.post('/rooms/:room_id/messages', {
    schema: {
      params: RoomParamsSchema,
      body: MessageBodySchema,
      response: { 200: MessageSchema, 400: ErrorSchema }
    }
  }, async (request) => {
    const { user_id: userId, username, content } = request.body
    return sendMessage(chat, { roomId: request.params.room_id, userId, username, content })
  })

  fastify.get('/rooms/:room_id/messages', {
    schema: {
      params: RoomParamsSchema,
      querystring: HistoryQuerySchema,
      response: { 200: MessageListSchema, 400: ErrorSchema }
    }
  }, async (request) => {
    // Pages past the cap are served at the cap rather than refused: the client asks for 100.
    const limit = Math.min(request.query.limit ?? DEFAULT_PAGE, config.historyMaxLimit)
    return store.latest(request.params.room_id, limit)
  })
}

export default rooms
