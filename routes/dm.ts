// Direct messages: the DM socket GET /ws/dm/:user_id and the conversation routes.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ChatError } from '../src/chat/errors'
import { dmChannel, dmWire, sendDirect } from '../src/dm/direct'
import { openDmSocket } from '../src/dm/dm-socket'
import { ConversationParamsSchema, ConversationsSchema, DirectMessageSchema, DirectPageQuerySchema, DirectSendSchema, MessageParamsSchema, OwnerBodySchema } from '../src/schemas/dm'
import { ErrorSchema } from '../src/schemas/http'
import { SuccessSchema } from '../src/schemas/rooms'
import { UserParamsSchema } from '../src/schemas/users'
import { createAdmission, refuse } from '../src/socket/admission'
import { parseSocketQuery } from '../src/socket/query'
import { roomName } from '../src/store/user-store'

const MAX_CONVERSATIONS = 200
const DEFAULT_PAGE = 50

const dm: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, broker, registry, presence, config, metrics, auth, authorize, accounts, refuseForeignOrigin, upgradeRequired, clientKey } = fastify
  const direct = { store, broker, maxContentLength: config.maxContentLength }
  const admit = createAdmission({ auth, registry, config })

  // Matched before /ws/:room_id/:user_id (a static segment wins): no room is ever made for it.
  fastify.route({
    method: 'GET',
    url: '/ws/dm/:user_id',
    schema: { params: Type.Object({ user_id: Type.String() }), querystring: Type.Object({}, { additionalProperties: true }) },
    // Browsers apply no CORS to sockets: the Origin rule is refuseForeignOrigin's, and
    // CORS headers on a 101 would be work for nothing, paid by every connect.
    config: { cors: false },
    onRequest: refuseForeignOrigin,
    handler: upgradeRequired,
    wsHandler: (socket, request) => {
      const userId = request.params.user_id
      const log = fastify.log.child({ reqId: request.id, dm: true, userId })
      const address = clientKey(request)
      const query = parseSocketQuery(request.query as Record<string, unknown>, request.headers['sec-websocket-protocol'])
      const admitted = admit({ roomId: null, userId, address, token: query.token })
      if ('code' in admitted) return refuse(socket, log, admitted)
      openDmSocket(socket, { userId, address, username: query.username, avatarUrl: query.avatarUrl, grant: admitted.grant }, { direct, registry, presence, config, metrics }, log)
    }
  })

  fastify.get('/users/:user_id/conversations', {
    schema: { tags: ['direct messages'], summary: 'A user\'s conversations and contacts, with unread counts', params: UserParamsSchema, response: { 200: ConversationsSchema } }
  }, async (request) => {
    const { user_id: userId } = request.params
    authorize(request, userId)
    const list = await store.conversations(userId, MAX_CONVERSATIONS)
    const users = await Promise.all(list.map((c) => store.getUser(c.partnerId)))
    return {
      conversations: list.map((c) => ({ id: c.conversationId, participants: [c.last.senderId, c.last.receiverId], last_message: dmWire(c.last) as never, unread: c.unread, updated_at: c.last.createdAt })),
      contacts: list.map((c, i) => ({
        id: c.partnerId,
        conversation_id: c.conversationId,
        username: users[i] ? roomName(users[i]!) : null,
        avatar_url: users[i]?.avatarUrl ?? null,
        avatar_urls: users[i]?.avatarUrls ?? null,
        unread: c.unread,
        last_message: c.last.content,
        last_message_at: c.last.createdAt
      }))
    }
  })

  fastify.get('/users/:user_id/unread-count', {
    schema: { tags: ['direct messages'], summary: 'DMs to the user not yet read', params: UserParamsSchema, response: { 200: Type.Object({ count: Type.Integer() }) } }
  }, async (request) => {
    authorize(request, request.params.user_id)
    return { count: await store.unreadCount(request.params.user_id) }
  })

  fastify.get('/conversations/:conversation_id/messages', {
    schema: { tags: ['direct messages'], summary: 'A page of a conversation, oldest first', params: ConversationParamsSchema, querystring: DirectPageQuerySchema, response: { 200: Type.Array(DirectMessageSchema), 403: ErrorSchema } }
  }, async (request) => {
    const { conversation_id: conversationId } = request.params
    const viewer = auth === null ? undefined : tokenUser(request)
    const page = await store.directPage(conversationId, { limit: Math.min(Number(request.query.limit ?? DEFAULT_PAGE), 500), beforeId: request.query.before, viewerId: viewer })
    // With tokens on, only a participant reads (the pair key cannot be split: ids may hold "-").
    if (viewer !== undefined && page.length > 0 && page[0].senderId !== viewer && page[0].receiverId !== viewer) {
      throw new ChatError('forbidden_conversation', 'not your conversation', 403)
    }
    return page.map((message) => dmWire(message) as never)
  })

  fastify.post('/conversations/:conversation_id/read', {
    schema: { tags: ['direct messages'], summary: 'Mark what the user received in the conversation as read', description: 'A pair key with no messages is 200 with marked 0. The partner\'s DM sockets get dm_read.', params: ConversationParamsSchema, body: OwnerBodySchema, response: { 200: Type.Object({ success: Type.Literal(true), marked: Type.Integer() }) } }
  }, async (request) => {
    const { conversation_id: conversationId } = request.params
    const { user_id: userId } = request.body
    authorize(request, userId)
    const marked = await store.markRead(conversationId, userId)
    if (marked > 0) {
      const [last] = await store.directPage(conversationId, { limit: 1 })
      const partner = last && (last.senderId === userId ? last.receiverId : last.senderId)
      if (partner) await broker.publish(dmChannel(partner), { data: JSON.stringify({ type: 'dm_read', conversation_id: conversationId, reader_id: userId, timestamp: new Date().toISOString() }) })
    }
    return { success: true as const, marked }
  })

  fastify.post('/messages/direct', {
    schema: { tags: ['direct messages'], summary: 'Send a DM: the same path as the DM socket', description: 'A repeated client_id answers the message stored the first time.', body: DirectSendSchema, response: { 200: DirectMessageSchema, 400: ErrorSchema } }
  }, async (request) => {
    const body = request.body
    const grant = authorize(request, body.sender_id)
    const { message } = await sendDirect(direct, { senderId: body.sender_id, receiverId: body.receiver_id, content: body.content, username: grant === null ? body.sender_username : grant.name, avatar: body.sender_avatar, clientId: body.client_id })
    return dmWire(message) as never
  })

  fastify.delete('/messages/:message_id', {
    schema: { tags: ['direct messages'], summary: 'Delete one of your own DMs', params: MessageParamsSchema, body: OwnerBodySchema, response: { 200: SuccessSchema, 403: ErrorSchema, 404: ErrorSchema } }
  }, async (request) => {
    const { user_id: userId } = request.body
    authorize(request, userId)
    const message = await store.directMessage(request.params.message_id)
    if (!message) throw new ChatError('unknown_message', `message ${request.params.message_id} does not exist`, 404)
    if (message.senderId !== userId) throw new ChatError('not_your_message', 'only the sender deletes a message', 403)
    await store.deleteDirect(message.id)
    return { success: true as const }
  })

  fastify.delete('/conversations/:conversation_id', {
    schema: { tags: ['direct messages'], summary: 'Delete a conversation for the caller (the partner keeps it)', params: ConversationParamsSchema, body: OwnerBodySchema, response: { 200: SuccessSchema } }
  }, async (request) => {
    authorize(request, request.body.user_id)
    await store.hideConversation(request.params.conversation_id, request.body.user_id)
    return { success: true as const }
  })

  /** With tokens on, the reader is the token's user; a read without one is a 401. */
  function tokenUser (request: Parameters<typeof authorize>[0]): string {
    authorize(request)
    return accounts.tokenUser(request)!
  }
}

export default dm
