// TypeBox schemas of the REST API and the client frames: the types and the validators.
import { Type, type Static } from '@sinclair/typebox'
import { FORMAT_CHARS } from './format-chars'

// Room and user ids are arbitrary strings (the client falls back to ids such as
// `mock-1735-abc123`), bounded and free of control characters and slashes.
// A lone UTF-16 surrogate is refused too: a store would keep it as U+FFFD; and the
// format characters (format-chars.ts), which make one id look like another.
const ID_PATTERN = `^(?:(?!${FORMAT_CHARS.astral})(?:[^\\u0000-\\u001F\\u007F/\\uD800-\\uDFFF${FORMAT_CHARS.bmp}]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]))+$`
export const IdSchema = Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN, errorMessage: 'must be an id: no control characters, no "/", no format characters (bidi controls, zero-width characters)' })
export const UsernameSchema = Type.String({ maxLength: 64 })
export const AvatarUrlSchema = Type.String({ maxLength: 2048, pattern: '^https?://[^\\s]+$' })

/** Optional fields accept null too: the seed's client and FastAPI's models send it. */
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) =>
  Type.Optional(Type.Union([schema, Type.Null()]))

export const ErrorSchema = Type.Object({
  error: Type.String(),
  message: Type.String(),
  code: Type.Optional(Type.String())
})

export const HealthSchema = Type.Object({
  status: Type.Literal('ok'),
  service: Type.String(),
  version: Type.String()
})

export const RoomParamsSchema = Type.Object({ room_id: IdSchema })

export const JoinBodySchema = Type.Object({
  user_id: IdSchema,
  username: Nullable(UsernameSchema),
  avatar_url: Nullable(AvatarUrlSchema)
})
export type JoinBody = Static<typeof JoinBodySchema>

export const JoinReplySchema = Type.Object({
  status: Type.Literal('success'),
  room_id: Type.String(),
  user_id: Type.String()
})

// Content length is a configured limit, checked by the core (one rule for REST and WS).
export const MessageBodySchema = Type.Object({
  user_id: IdSchema,
  username: Nullable(UsernameSchema),
  content: Type.String(),
  type: Nullable(Type.String({ maxLength: 32 })),
  client_id: Type.Optional(IdSchema)
})
export type MessageBody = Static<typeof MessageBodySchema>

export const IdempotencyHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(IdSchema)
})

// Whole numbers in a query string, spelled strictly: "1.5" or "1e3" is a 400, not 1.
export const SeqParamSchema = Type.String({ pattern: '^[0-9]{1,15}$', description: 'a seq: a whole number' })
export const LimitParamSchema = Type.String({ pattern: '^0*[1-9][0-9]{0,8}$', description: 'a whole number of at least 1' })

export const HistoryQuerySchema = Type.Object({
  limit: Type.Optional(LimitParamSchema),
  before: Type.Optional(SeqParamSchema),
  after: Type.Optional(SeqParamSchema),
  before_id: Type.Optional(IdSchema),
  after_id: Type.Optional(IdSchema)
})

export const MemberSchema = Type.Object({
  user_id: Type.String(),
  username: Type.String(),
  avatar: Type.Union([Type.String(), Type.Null()]),
  avatar_url: Type.Union([Type.String(), Type.Null()]),
  joined_at: Type.String(),
  online: Type.Boolean()
})

export const MessageSchema = Type.Object({
  type: Type.Literal('message'),
  id: Type.String(),
  room_id: Type.String(),
  user_id: Type.String(),
  username: Type.String(),
  content: Type.String(),
  avatar: Type.Union([Type.String(), Type.Null()]),
  avatar_url: Type.Union([Type.String(), Type.Null()]),
  timestamp: Type.String(),
  seq: Type.Integer(),
  client_id: Type.Optional(Type.String())
})
export type Message = Static<typeof MessageSchema>
export const MessageListSchema = Type.Array(MessageSchema)

// WebSocket route: params and query are checked by the handler, not by Fastify, so a
// bad id closes the socket with 4004 and a bad query value is ignored (src/socket/query.ts).
export const SocketParamsSchema = Type.Object({ room_id: Type.String(), user_id: Type.String() })
export const SocketQuerySchema = Type.Object({
  username: Type.Optional(Type.Unknown()),
  avatar_url: Type.Optional(Type.Unknown()),
  /** Recovery: replay every message after this seq before the live stream. */
  since: Type.Optional(Type.Unknown()),
  /** Presence: send a room_state frame first. */
  presence: Type.Optional(Type.Unknown()),
  /** With AUTH_SECRET: an HS256 JWT whose sub is the path's user id. */
  token: Type.Optional(Type.Unknown())
})

// Client → server frames. A chat frame has no type or type "message".
export const ChatFrameSchema = Type.Object({
  type: Type.Optional(Type.Literal('message')),
  content: Type.String(),
  username: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  avatar: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  user_id: Type.Optional(Type.Unknown()),
  client_id: Type.Optional(IdSchema)
})
export type ChatFrame = Static<typeof ChatFrameSchema>

export const TypingFrameSchema = Type.Object({
  type: Type.Union([Type.Literal('typing_start'), Type.Literal('typing_stop')]),
  timestamp: Type.Optional(Type.Number())
})
export type TypingFrame = Static<typeof TypingFrameSchema>

export const KeepAliveFrameSchema = Type.Object({ type: Type.Literal('keep_alive') })
export const PongFrameSchema = Type.Object({ type: Type.Literal('pong') })
