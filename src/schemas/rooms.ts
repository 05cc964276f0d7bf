// TypeBox schemas of rooms as the list shows them: details, thumbnails, passwords.
import { Type } from '@sinclair/typebox'
import { AvatarUrlSchema, IdSchema } from './http'
import { AvatarUrlsSchema } from './users'

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]))
const Text = (maxLength: number, description?: string) => Type.String({ maxLength, ...(description ? { description } : {}) })

export const ROOM_CATEGORIES = ['Gaming', 'Study', 'Social', 'Work', 'Music', 'Art', 'Tech', 'Sports', 'Other'] as const
export const PrivacySchema = Type.Union([Type.Literal('public'), Type.Literal('private'), Type.Literal('password')])

export const HostSchema = Type.Object({
  id: IdSchema,
  username: Type.String({ maxLength: 64 }),
  avatar_url: Type.Optional(Type.Union([AvatarUrlSchema, Type.Null()])),
  avatar_urls: Type.Optional(Type.Union([AvatarUrlsSchema, Type.Null()]))
})

export const RoomCreateSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  thumbnail_url: Nullable(Type.String({ description: 'an http(s) URL, or an uploaded image as a data:image/(jpeg|png|gif|webp);base64 URL of at most THUMBNAIL_MAX_BYTES' })),
  category: Nullable(Text(32)),
  description: Nullable(Text(1000)),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { maxItems: 10 })),
  privacy: Type.Optional(PrivacySchema),
  max_members: Type.Optional(Type.Union([Type.Integer({ minimum: 2, maximum: 100_000 }), Type.Null()])),
  password: Nullable(Type.String({ minLength: 4, maxLength: 128 })),
  host: Type.Optional(Type.Union([HostSchema, Type.Null()])),
  created_by: Type.Optional(Type.Union([IdSchema, Type.Null()]))
})

export const RoomWireSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
  thumbnail_url: Type.Union([Type.String(), Type.Null()]),
  category: Type.Union([Type.String(), Type.Null()]),
  description: Type.Union([Type.String(), Type.Null()]),
  tags: Type.Array(Type.String()),
  privacy: PrivacySchema,
  maxMembers: Type.Union([Type.Integer(), Type.Null()]),
  max_members: Type.Union([Type.Integer(), Type.Null()]),
  host: Type.Union([HostSchema, Type.Null()]),
  created_by: Type.Union([Type.String(), Type.Null()]),
  memberCount: Type.Integer({ description: 'users online now: the client\'s viewer pill' }),
  onlineCount: Type.Integer({ description: 'users online now' }),
  member_count: Type.Integer({ description: 'users who ever joined' }),
  online_count: Type.Integer(),
  last_seq: Type.Integer(),
  last_message_at: Type.Union([Type.String(), Type.Null()])
})

export const RoomListQuerySchema = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^0*[1-9][0-9]{0,8}$' })),
  category: Type.Optional(Text(32, '"Other" also lists rooms with no category or a non-standard one'))
})

export const VerifyPasswordBodySchema = Type.Object({ password: Type.String({ maxLength: 128 }) })
export const SuccessSchema = Type.Object({ success: Type.Literal(true) })
