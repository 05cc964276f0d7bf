// A room's members, its thumbnail and its password check.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ChatError } from '../src/chat/errors'
import { displayName } from '../src/chat/text'
import { verifyPassword } from '../src/accounts/passwords'
import { ErrorSchema, MemberSchema, RoomParamsSchema } from '../src/schemas/http'
import { SuccessSchema, VerifyPasswordBodySchema } from '../src/schemas/rooms'

const MAX_MEMBERS = 1000

const roomDetails: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, presence, authorizeRead, accounts, clientKey } = fastify

  fastify.post('/rooms/:room_id/verify-password', {
    schema: {
      tags: ['rooms'],
      summary: 'Check a password room\'s password',
      description: '200 when it matches (or the room has no password), 403 when it does not: a 401 would log the client out. Wrong guesses are limited like logins (429).',
      params: RoomParamsSchema,
      body: VerifyPasswordBodySchema,
      response: { 200: SuccessSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema }
    }
  }, async (request) => {
    const roomId = request.params.room_id
    authorizeRead(request, roomId)
    const access = await store.roomAccess(roomId)
    if (!access) throw new ChatError('unknown_room', `room ${roomId} does not exist`, 404)
    if (access.passwordHash === null) return { success: true as const }
    const key = `room:${roomId}`
    if (!await accounts.limiter.allowed(key, clientKey(request))) throw new ChatError('too_many_attempts', 'too many wrong passwords; try again later', 429)
    if (!await verifyPassword(request.body.password, access.passwordHash)) {
      await accounts.limiter.failed(key, clientKey(request))
      throw new ChatError('wrong_password', 'incorrect password', 403)
    }
    return { success: true as const }
  })

  fastify.get('/rooms/:room_id/thumbnail', {
    schema: { tags: ['rooms'], summary: 'A room\'s uploaded thumbnail', params: RoomParamsSchema, response: { 200: Type.Unknown({ description: 'the image, with its content type' }), 404: ErrorSchema } }
  }, async (request, reply) => {
    const thumbnail = await store.thumbnail(request.params.room_id)
    if (!thumbnail) throw new ChatError('no_thumbnail', 'this room has no uploaded thumbnail', 404)
    // Its URL carries a hash of the bytes (?v=): a new image is a new URL, so this one never changes.
    return reply
      .header('content-type', thumbnail.contentType)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff')
      .header('cross-origin-resource-policy', 'cross-origin')
      .send(thumbnail.data)
  })

  fastify.get('/rooms/:room_id/users', {
    schema: {
      tags: ['rooms'],
      summary: 'A room\'s members, oldest first, with an online flag',
      params: RoomParamsSchema,
      response: { 200: Type.Array(MemberSchema), 400: ErrorSchema }
    }
  }, async (request) => {
    const roomId = request.params.room_id
    authorizeRead(request, roomId)
    const online = new Set(await presence.online(roomId))
    const members = await store.members(roomId, MAX_MEMBERS)
    return members.map((member) => ({
      user_id: member.userId,
      username: displayName(member.username),
      avatar: member.avatarUrl,
      avatar_url: member.avatarUrl,
      joined_at: member.joinedAt,
      online: online.has(member.userId)
    }))
  })
}

export default roomDetails
