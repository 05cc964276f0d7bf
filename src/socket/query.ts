// The socket URL's query values: one parser, and the rules /docs/websocket.json describes.
import { Type } from '@sinclair/typebox'
import { protocolToken } from '../access/auth'
import { cleanAvatar, cleanUsername } from '../chat/text'

/** The values a query flag (presence=) takes for "on". */
export const FLAG_ON = ['1', 'true', 'yes'] as const
export const SEQ_PATTERN = '^\\d{1,15}$'
export const FlagSchema = Type.Union(FLAG_ON.map((value) => Type.Literal(value)))
export const SeqQuerySchema = Type.String({ pattern: SEQ_PATTERN })

export interface SocketQuery {
  username?: string
  avatarUrl?: string
  since?: number
  presence: boolean
  token?: string
}

const seq = new RegExp(SEQ_PATTERN)
// A repeated key arrives as an array: its first value counts.
const first = (value: unknown) => (Array.isArray(value) ? value[0] : value)
const text = (value: unknown) => (typeof first(value) === 'string' ? first(value) as string : undefined)

/**
 * Query values are never a reason to refuse a socket: a bad one is simply absent. The
 * token is the `Sec-WebSocket-Protocol` header's `bearer.<jwt>` when there is one.
 */
export function parseSocketQuery (query: Record<string, unknown>, protocols?: string): SocketQuery {
  const since = text(query.since)
  const presence = text(query.presence)
  return {
    username: cleanUsername(first(query.username)),
    avatarUrl: cleanAvatar(first(query.avatar_url)),
    since: since !== undefined && seq.test(since) ? Number(since) : undefined,
    presence: presence !== undefined && (FLAG_ON as readonly string[]).includes(presence),
    token: protocolToken(protocols) ?? text(query.token)
  }
}
