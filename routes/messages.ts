// POST and GET /rooms/:room_id/messages.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ChatError } from '../src/chat/errors'
import { pageBody } from '../src/chat/history'
import { sendMessage } from '../src/chat/messages'
import { messageJson } from '../src/store/wire-message'
import {
  ErrorSchema, HistoryQuerySchema, IdempotencyHeadersSchema, MessageBodySchema,
  MessageListSchema, MessageSchema, RoomParamsSchema
} from '../src/schemas/http'

const DEFAULT_PAGE = 100
const optionalNumber = (value: string | undefined) => (value === undefined ? undefined : Number(value))

const messages: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, chat, config, authorize, authorizeRead, checkRoomQuota } = fastify

  fastify.post('/rooms/:room_id/messages', {
    schema: {
      tags: ['messages'],
      summary: 'Send a message: stored, then broadcast to the room\'s sockets',
      description: 'Answered once the message is durable. A repeated client_id (or Idempotency-Key) answers the message stored the first time.',
      params: RoomParamsSchema,
      headers: IdempotencyHeadersSchema,
      body: MessageBodySchema,
      response: { 200: MessageSchema, 400: ErrorSchema }
    }
  }, async (request, reply) => {
    const { user_id: userId, username, content, client_id: bodyClientId } = request.body
    // With tokens on, the name is the token's or the profile's, never one a message gives.
    const grant = authorize(request, userId, request.params.room_id)
    await checkRoomQuota(request, request.params.room_id)
    // A retry (same client_id, or Idempotency-Key) answers the message stored the first time.
    const clientId = bodyClientId ?? request.headers['idempotency-key']
    const { message } = await sendMessage(chat, { roomId: request.params.room_id, userId, username: grant === null ? username : grant.name, content, clientId })
    // The JSON the room was sent (the store's, on SQLite): serialised once per message.
    return reply.type('application/json; charset=utf-8').send(messageJson(message) as never)
  })

  fastify.get('/rooms/:room_id/messages', {
    schema: {
      tags: ['messages'],
      summary: 'A page of history, oldest first',
      description: 'No cursor: the newest limit messages (100 by default, clamped to HISTORY_MAX_LIMIT). before/after (seq) or before_id/after_id page through. A room never seen gives []. A page bigger than HISTORY_MAX_BYTES holds only the messages that fit, the newest (after: the oldest) of it: the end of the history is an empty page, not a short one.',
      params: RoomParamsSchema,
      querystring: HistoryQuerySchema,
      response: { 200: MessageListSchema, 400: ErrorSchema }
    }
  }, async (request, reply) => {
    const roomId = request.params.room_id
    authorizeRead(request, roomId)
    const { before, after, before_id: beforeId, after_id: afterId } = request.query
    // Pages past the cap are served at the cap rather than refused: the client asks for 100.
    const limit = Math.min(Number(request.query.limit ?? DEFAULT_PAGE), config.historyMaxLimit)
    const beforeSeq = beforeId === undefined ? optionalNumber(before) : await seqOf(roomId, beforeId)
    const afterSeq = afterId === undefined ? optionalNumber(after) : await seqOf(roomId, afterId)
    const page = await store.pageJson(roomId, { limit, beforeSeq, afterSeq })
    // The messages' JSON as stored, joined, and sent as it is: the schema above documents
    // it (the type provider types send() by the schema, hence the cast); nothing re-serialises it.
    const body = pageBody(page, config.historyMaxBytes, afterSeq === undefined ? 'newest' : 'oldest')
    return reply.type('application/json; charset=utf-8').send(body as never)
  })

  async function seqOf (roomId: string, messageId: string): Promise<number> {
    const seq = await store.seqOf(roomId, messageId)
    if (seq === undefined) throw new ChatError('unknown_message', `message ${messageId} is not in room ${roomId}`, 404)
    return seq
  }
}

export default messages
