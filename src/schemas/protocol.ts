// The WebSocket protocol as data: server frames, error codes, close codes, query flags (/docs/websocket.json).
import { Type, type TSchema } from '@sinclair/typebox'
import {
  AvatarUrlSchema, ChatFrameSchema, IdSchema, KeepAliveFrameSchema, MessageSchema,
  PongFrameSchema, TypingFrameSchema, UsernameSchema
} from './http'
import { TOKEN_REFUSALS } from '../access/auth'
import { closeCodeTable } from '../socket/close-codes'
import { FlagSchema, SeqQuerySchema } from '../socket/query'

// Served as /docs/websocket.json and summarized in the OpenAPI document;
// test/docs.test.ts holds real frames against these schemas.

/** `new Date().toISOString()`: UTC, always ending in Z (the client appends one otherwise). */
export const TimestampSchema = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$' })
const Count = Type.Integer({ minimum: 0 })
const Avatar = Type.Union([Type.String(), Type.Null()])
const strict = { additionalProperties: false }

export const ERROR_CODES = {
  invalid_json: 'The frame is not valid JSON.',
  invalid_frame: 'Valid JSON but not an object, or a field of the wrong type; the message names the field.',
  unknown_type: 'A type that is not message, typing_start, typing_stop, keep_alive or pong (or not a string).',
  empty_content: 'content is empty or whitespace only.',
  content_too_long: 'content has more than MAX_CONTENT_LENGTH characters.',
  invalid_content: 'content holds text no store keeps as given (a NUL character, a lone UTF-16 surrogate).',
  binary_not_supported: 'A binary frame: frames must be JSON text.',
  rate_limited: 'Over the socket\'s frame or message rate; the frame is dropped. Keep going and the socket is closed with 1008.',
  overloaded: 'More than WS_MAX_PENDING_FRAMES frames from this socket are waiting; the frame is dropped.',
  invalid_receiver: 'DM socket: a dm_message without a valid receiver_id.',
  self_message: 'DM socket: a dm_message to oneself.',
  internal_error: 'An unexpected server failure while handling the frame (logged). Retrying may work.'
} as const
const errorCodes = Object.keys(ERROR_CODES) as Array<keyof typeof ERROR_CODES>

export const MessageFrameSchema = Type.Object({ ...MessageSchema.properties, timestamp: TimestampSchema }, strict)

const typingEvent = <T extends string>(type: T) => Type.Object({
  type: Type.Literal(type),
  room_id: IdSchema,
  user_id: IdSchema,
  username: Type.String({ description: 'the profile\'s name, the same in typing_stop as in its typing_start' }),
  timestamp: TimestampSchema
}, strict)
export const TypingStartEventSchema = typingEvent('typing_start')
export const TypingStopEventSchema = typingEvent('typing_stop')

const member = {
  user_id: IdSchema,
  username: Type.String(),
  avatar: Avatar,
  avatar_url: Avatar
}
const presenceEvent = <T extends string>(type: T) => Type.Object({
  type: Type.Literal(type),
  room_id: IdSchema,
  ...member,
  online_count: Type.Integer({ minimum: 0, description: 'users (not sockets) online in the room' }),
  timestamp: TimestampSchema,
  snapshot: Type.Optional(Type.Literal(true, { description: 'on a user_joined sent to a new socket for a user already online: not a live join' }))
}, strict)
export const UserJoinedEventSchema = presenceEvent('user_joined')
export const UserLeftEventSchema = presenceEvent('user_left')

export const PingFrameSchema = Type.Object({ type: Type.Literal('ping') }, strict)

export const ErrorFrameSchema = Type.Object({
  type: Type.Literal('error'),
  code: Type.Union(errorCodes.map((code) => Type.Literal(code))),
  message: Type.String()
}, strict)

export const RoomStateFrameSchema = Type.Object({
  type: Type.Literal('room_state'),
  room_id: IdSchema,
  online: Type.Array(Type.Object(member, strict)),
  users: Type.Array(Type.Object({ user_id: IdSchema, username: Type.String(), avatar_url: Avatar }, strict), { description: 'the same users, in the shape the current client reads' }),
  online_count: Count,
  last_seq: Count
}, strict)

export const RecoveryCompleteFrameSchema = Type.Object({
  type: Type.Literal('recovery'),
  status: Type.Literal('complete'),
  room_id: IdSchema,
  since: Count,
  last_seq: Type.Integer({ minimum: 0, description: 'the last seq replayed (or since): live messages follow from there' }),
  replayed: Count
}, strict)

export const RecoveryGapFrameSchema = Type.Object({
  type: Type.Literal('recovery'),
  status: Type.Literal('gap'),
  room_id: IdSchema,
  since: Count,
  last_seq: Count,
  message: Type.String()
}, strict)

interface FrameDoc { type: string, description: string, schema: TSchema }

export const CLIENT_FRAMES: Record<string, FrameDoc & { answer: string }> = {
  message: { type: 'message', schema: ChatFrameSchema, description: 'A chat message. type may be absent, "message" or null; a user_id in the frame is ignored (the path\'s wins); username and avatar apply to this message only; client_id makes a retry idempotent.', answer: 'stored, then broadcast as a message frame to every socket in the room, the sender included; a repeated client_id gets the stored message back, to this socket only' },
  typing_start: { type: 'typing_start', schema: TypingFrameSchema, description: 'The user is typing (the older client sends one per keystroke).', answer: 'relayed to the room\'s other sockets, at most once per TYPING_THROTTLE_MS; a typing_stop follows after TYPING_TIMEOUT_MS of silence' },
  typing_stop: { type: 'typing_stop', schema: TypingFrameSchema, description: 'The user stopped typing.', answer: 'relayed to the room\'s other sockets' },
  keep_alive: { type: 'keep_alive', schema: KeepAliveFrameSchema, description: 'Application-level keep-alive (the client sends one every 10 s).', answer: 'a ping frame to this socket only; never stored' },
  pong: { type: 'pong', schema: PongFrameSchema, description: 'Ignored.', answer: 'nothing' }
}

export const SERVER_FRAMES: Record<string, FrameDoc & { to: string, opt_in?: string }> = {
  message: { type: 'message', schema: MessageFrameSchema, to: 'every socket in the room, the sender included', description: 'A stored chat message: the same shape as in REST history. Also replayed to a socket that resumes with since=.' },
  typing_start: { type: 'typing_start', schema: TypingStartEventSchema, to: 'the room\'s other sockets', description: 'A user started typing.' },
  typing_stop: { type: 'typing_stop', schema: TypingStopEventSchema, to: 'the room\'s other sockets', description: 'A user stopped typing, sent a message, fell silent or left.' },
  user_joined: { type: 'user_joined', schema: UserJoinedEventSchema, to: 'the room\'s other sockets; and to a new socket, once for each user already online, with snapshot: true', description: 'A user\'s first socket in the room opened (two tabs are one user); or, with snapshot: true, who was online when this socket connected.' },
  user_left: { type: 'user_left', schema: UserLeftEventSchema, to: 'the room\'s other sockets', description: 'A user\'s last socket in the room closed.' },
  ping: { type: 'ping', schema: PingFrameSchema, to: 'the socket that sent keep_alive', description: 'The answer to keep_alive.' },
  error: { type: 'error', schema: ErrorFrameSchema, to: 'the socket that sent the refused frame', description: 'A refused frame: nothing stored or broadcast, the socket stays open.' },
  room_state: { type: 'room_state', schema: RoomStateFrameSchema, to: 'the new socket', opt_in: 'presence=1 (or EXTENDED_FRAMES=true)', description: 'Who is online, first thing after the upgrade.' },
  recovery_complete: { type: 'recovery', schema: RecoveryCompleteFrameSchema, to: 'the resuming socket', opt_in: 'since=<seq>', description: 'After the replayed messages, before the live stream.' },
  recovery_gap: { type: 'recovery', schema: RecoveryGapFrameSchema, to: 'the resuming socket', opt_in: 'since=<seq>', description: 'More than RECOVERY_MAX_MESSAGES were missed: nothing replayed; load history pages instead.' }
}

export const CLOSE_CODES = closeCodeTable(Object.values(TOKEN_REFUSALS))

export const QUERY_FLAGS: Record<string, { description: string, schema: TSchema }> = {
  username: { schema: UsernameSchema, description: 'Fills the profile\'s username if it has none; never overwrites. Blank or oversized: ignored.' },
  avatar_url: { schema: AvatarUrlSchema, description: 'Fills the profile\'s avatar if it has none; never overwrites. Not http(s) or oversized: ignored.' },
  since: { schema: SeqQuerySchema, description: 'Recovery: replay every message after this seq, then a recovery frame, then the live stream. Invalid: ignored.' },
  presence: { schema: FlagSchema, description: 'Send a room_state frame first.' },
  token: { schema: Type.String(), description: 'With AUTH_SECRET set: an HS256 JWT whose sub is user_id; missing or wrong, close 1008. Ignored otherwise.' }
}

/** The protocol document served as /docs/websocket.json. */
export function protocolDocument (version: string) {
  return {
    title: 'Parley WebSocket protocol',
    version,
    url: '/ws/{room_id}/{user_id}',
    description: 'One socket per user and room. Frames are JSON text, one object each, handled in arrival order. ' +
      'Frame types the older client does not know (room_state, recovery) are sent only to a socket that asks with a query flag. ' +
      'The server sends protocol-level pings every WS_PING_INTERVAL_MS; a socket that misses one is terminated.',
    path_parameters: {
      room_id: { description: 'Any id of 1–128 characters without control characters or "/". Invalid: close 4004.', schema: IdSchema },
      user_id: { description: 'As room_id. The user is registered in the room on connect.', schema: IdSchema }
    },
    query: QUERY_FLAGS,
    client_frames: CLIENT_FRAMES,
    server_frames: SERVER_FRAMES,
    error_codes: ERROR_CODES,
    close_codes: CLOSE_CODES
  }
}

/** The protocol in Markdown, for the socket route in the OpenAPI document. */
export function protocolMarkdown (documentUrl: string): string {
  const optIn = (frame: { opt_in?: string }) => (frame.opt_in ? ` Only with \`${frame.opt_in}\`.` : '')
  return [
    `Upgrades to a WebSocket. Every frame, both ways, as a JSON Schema: [${documentUrl}](${documentUrl}).`,
    '',
    '**Client → server** (JSON text):',
    ...Object.entries(CLIENT_FRAMES).map(([name, f]) => `- \`${name}\`: ${f.description} → ${f.answer}.`),
    '',
    '**Server → client:**',
    ...Object.entries(SERVER_FRAMES).map(([name, f]) => `- \`${name}\` → ${f.to}: ${f.description}${optIn(f)}`),
    '',
    '**Close codes:**',
    '',
    '| code | reason | when | the client should |',
    '|---|---|---|---|',
    ...CLOSE_CODES.map((c) => `| ${c.code} | ${c.reasons.join(', ')} | ${c.when} | ${c.client} |`)
  ].join('\n')
}
