// Rooms: join, list, create.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ChatError } from '../src/chat/errors'
import { checkName, isStorableText } from '../src/chat/text'
import type { FastifyRequest } from 'fastify'
import { hashPassword } from '../src/accounts/passwords'
import { roomWire } from '../src/rooms/rooms'
import { nameFor } from '../src/users/users'
import { parseThumbnail, thumbnailPath } from '../src/rooms/thumbnail'
import { ErrorSchema, JoinBodySchema, JoinReplySchema, RoomParamsSchema } from '../src/schemas/http'
import { ROOM_CATEGORIES, RoomCreateSchema, RoomListQuerySchema, RoomWireSchema } from '../src/schemas/rooms'

const DEFAULT_ROOMS = 100
const MAX_ROOMS = 500

const STANDARD = ROOM_CATEGORIES.filter((category) => category !== 'Other')

const rooms: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, presence, authorize, authorizeRead, config, checkRoomQuota } = fastify

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
    authorize(request, userId, roomId)
    checkName(username)
    if (username && !isStorableText(username)) {
      throw new ChatError('invalid_username', 'username must be valid Unicode text without NUL characters')
    }
    // An explicit join sets the profile, but only with real values: a reconnect never blanks a profile.
    await checkRoomQuota(request, roomId)
    const name = nameFor(await store.getUser(userId), username?.trim() || undefined)
    const { created } = await store.upsertProfile(roomId, userId, { username: name, avatarUrl }, 'set')
    request.log.info({ roomId, userId, created }, 'user joined room')
    return { status: 'success' as const, room_id: roomId, user_id: userId }
  })

  // The newer client lists and creates rooms, and falls back to fake data without these.
  fastify.get('/rooms', {
    schema: {
      tags: ['rooms'],
      summary: 'List rooms, most recently active first',
      querystring: RoomListQuerySchema,
      response: { 200: Type.Array(RoomWireSchema) }
    }
  }, async (request) => {
    const grant = authorizeRead(request)
    const { category } = request.query
    const limit = Math.min(Number(request.query.limit ?? DEFAULT_ROOMS), MAX_ROOMS)
    // "Other" is also every room without one of the standard categories.
    const filter = category === undefined ? undefined : category === 'Other' ? { otherThan: STANDARD } : { category }
    // A token limited to some rooms lists only those of them.
    const list = (await store.listRooms(limit, filter)).filter((room) => !grant?.rooms || grant.rooms.has(room.id))
    const online = await Promise.all(list.map((room) => presence.online(room.id)))
    const origin = originOf(request)
    return list.map((room, i) => roomWire(room, online[i].length, origin))
  })

  fastify.post('/rooms', {
    // An uploaded thumbnail travels in the body as a data: URL.
    bodyLimit: Math.max(config.bodyLimitBytes, Math.ceil(config.thumbnailMaxBytes / 3) * 4 + 65_536),
    schema: {
      tags: ['rooms'],
      summary: 'Create a room',
      description: 'A data:image/… thumbnail is kept by Parley and served back as an http(s) URL of its own (GET /rooms/{id}/thumbnail). A password room keeps a scrypt hash of its password.',
      body: RoomCreateSchema,
      response: { 200: RoomWireSchema, 400: ErrorSchema, 413: ErrorSchema }
    }
  }, async (request) => {
    if (authorize(request)?.rooms) throw new ChatError('forbidden_room', 'a token limited to some rooms cannot create one', 403)
    const body = request.body
    const name = body.name.trim()
    if (name === '' || !isStorableText(name)) throw new ChatError('invalid_name', 'name must be non-empty Unicode text without NUL characters')
    for (const value of [body.description, body.category, ...(body.tags ?? [])]) {
      if (typeof value === 'string' && !isStorableText(value)) throw new ChatError('invalid_text', 'category, description and tags must be valid Unicode text without NUL characters')
    }
    const privacy = body.privacy ?? 'public'
    if (privacy === 'password' && !body.password) throw new ChatError('password_required', 'a password room needs a password of at least 4 characters')
    const id = randomUUID()
    await checkRoomQuota(request, id)
    const thumbnail = body.thumbnail_url ? parseThumbnail(body.thumbnail_url, config.thumbnailMaxBytes) : null
    const room = await store.createRoom({
      id,
      name,
      thumbnailUrl: thumbnail === null ? null : thumbnail.url ?? thumbnailPath(id, thumbnail.upload.version),
      thumbnail: thumbnail?.upload ?? null,
      category: body.category?.trim() || null,
      description: body.description?.trim() || null,
      tags: [...new Set((body.tags ?? []).map((tag) => tag.trim()).filter(Boolean))],
      privacy,
      maxMembers: body.max_members ?? null,
      passwordHash: privacy === 'password' ? await hashPassword(body.password!) : null,
      host: body.host ?? null,
      createdBy: body.created_by ?? body.host?.id ?? null
    })
    request.log.info({ roomId: room.id }, 'room created')
    return roomWire({ ...room, memberCount: 0, lastSeq: 0, lastMessageAt: null }, 0, originOf(request))
  })

  /** This server's origin, for the URLs it hands out. */
  function originOf (request: FastifyRequest): string {
    return config.publicUrl ?? `${request.protocol}://${request.host}`
  }

}

export default rooms
