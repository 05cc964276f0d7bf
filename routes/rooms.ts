// Rooms and members: join, list, create, users.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ChatError } from '../src/chat/errors'
import { displayName, isStorableText } from '../src/chat/text'
import {
  ErrorSchema, JoinBodySchema, JoinReplySchema, MemberSchema, RoomCreateSchema,
  RoomListQuerySchema, RoomParamsSchema, RoomSchema, RoomSummarySchema
} from '../src/schemas/http'

const MAX_MEMBERS = 1000
const DEFAULT_ROOMS = 100
const MAX_ROOMS = 500

const rooms: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, presence, authorize } = fastify

  fastify.post('/rooms/:room_id/join', {
    schema: {
      tags: ['rooms'],
      summary: 'Join a room (created if needed) and set the profile',
      description: 'Only non-empty values change the profile: a missing, null or empty username or avatar_url keeps what is stored.',
      params: RoomParamsSchema,
      body: JoinBodySchema,
      response: { 200: JoinReplySchema, 400: ErrorSchema }
    }
  }, async (request) => {
    const { room_id: roomId } = request.params
    const { user_id: userId, username, avatar_url: avatarUrl } = request.body
    authorize(request, userId)
    if (username && !isStorableText(username)) {
      throw new ChatError('invalid_username', 'username must be valid Unicode text without NUL characters')
    }
    // An explicit join sets the profile, but only with real values: a reconnect never blanks a profile.
    const { created } = await store.upsertProfile(roomId, userId, { username: username?.trim(), avatarUrl }, 'set')
    request.log.info({ roomId, userId, created }, 'user joined room')
    return { status: 'success' as const, room_id: roomId, user_id: userId }
  })

  // The newer client lists and creates rooms, and falls back to fake data without these.
  fastify.get('/rooms', {
    schema: {
      tags: ['rooms'],
      summary: 'List rooms, most recently active first',
      querystring: RoomListQuerySchema,
      response: { 200: Type.Array(RoomSummarySchema) }
    }
  }, async (request) => {
    const list = await store.listRooms(Math.min(Number(request.query.limit ?? DEFAULT_ROOMS), MAX_ROOMS))
    const online = await Promise.all(list.map((room) => presence.online(room.id)))
    return list.map((room, i) => ({
      id: room.id,
      name: room.name ?? room.id,
      created_at: room.createdAt,
      thumbnail_url: room.thumbnailUrl,
      member_count: room.memberCount,
      online_count: online[i].length,
      last_seq: room.lastSeq,
      last_message_at: room.lastMessageAt
    }))
  })

  fastify.post('/rooms', {
    schema: { tags: ['rooms'], summary: 'Create a named room', body: RoomCreateSchema, response: { 200: RoomSchema, 400: ErrorSchema } }
  }, async (request) => {
    authorize(request)
    if (!isStorableText(request.body.name)) {
      throw new ChatError('invalid_name', 'name must be valid Unicode text without NUL characters')
    }
    const room = await store.createRoom({
      id: randomUUID(),
      name: request.body.name.trim(),
      thumbnailUrl: request.body.thumbnail_url ?? null
    })
    request.log.info({ roomId: room.id }, 'room created')
    return { id: room.id, name: room.name ?? room.id, created_at: room.createdAt, thumbnail_url: room.thumbnailUrl }
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

export default rooms
