// Signed tokens (HS256 JWTs): the one token check for REST and sockets.
import { createSigner, createVerifier } from 'fast-jwt'
import { ChatError } from '../chat/errors'
import { cleanUsername } from '../chat/text'

/** Why a token is refused, as REST messages and socket close reasons say it. */
export const TOKEN_REFUSALS = {
  missing: 'a token is required',
  invalid: 'the token is not valid: <code>',
  noSubject: 'the token has no sub',
  badRooms: 'the token\'s rooms claim is not a list of room ids',
  otherUser: 'the token is not for this user',
  otherRoom: 'the token is not for this room'
} as const

/** A verified token: its user, the rooms it is limited to (null: every room), its `name` claim. */
export interface TokenGrant {
  subject: string
  rooms: ReadonlySet<string> | null
  /** With tokens on, messages carry this name, or the profile's: never one a message gives. */
  name: string | null
}

/**
 * `forbidden`: a valid token that does not cover what was asked (another user, another
 * room): a 403, where a missing or invalid token is a 401.
 */
export type TokenCheck =
  | ({ ok: true } & TokenGrant)
  | { ok: false, reason: string, forbidden: boolean, subject?: string }

const MAX_ROOM_CLAIMS = 1000

/**
 * The REST error of a refused check, logged at warn: a valid token that does not cover
 * the request is a 403 (the current client logs out on any 401), anything else a 401.
 */
export function refusalError (result: Extract<TokenCheck, { ok: false }>, log: { warn (obj: object, msg: string): void }, asked: { userId?: string, roomId?: string } = {}): ChatError {
  if (!result.forbidden) {
    log.warn({ reason: result.reason }, 'request refused: no valid token')
    return new ChatError('unauthorized', result.reason, 401)
  }
  if (asked.userId !== undefined && result.subject !== asked.userId) {
    log.warn({ subject: result.subject, userId: asked.userId }, 'impersonation refused')
    return new ChatError('forbidden_user', result.reason, 403)
  }
  log.warn({ subject: result.subject, roomId: asked.roomId }, 'request refused: the token is for other rooms')
  return new ChatError('forbidden_room', result.reason, 403)
}

/**
 * Optional signed tokens, the Centrifugo model: the app's own backend mints an
 * HS256 JWT whose `sub` is the user id, and Parley only verifies it.
 */
export function createAuth (secret: string, { issuer = null, audience = null }: { issuer?: string | null, audience?: string | null } = {}) {
  // A token without exp would never expire: refused. Issuer and audience, when
  // configured, must match (and are put in the tokens Parley signs).
  const verifier = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    cache: 1000,
    requiredClaims: ['exp', ...(issuer === null ? [] : ['iss']), ...(audience === null ? [] : ['aud'])],
    ...(issuer === null ? {} : { allowedIss: issuer }),
    ...(audience === null ? {} : { allowedAud: audience })
  })
  const signer = createSigner({ key: secret, algorithm: 'HS256', ...(issuer === null ? {} : { iss: issuer }), ...(audience === null ? {} : { aud: audience }) })

  function grant (token: string | undefined): TokenGrant | Error {
    if (!token) return new Error(TOKEN_REFUSALS.missing)
    let claims: { sub?: unknown, rooms?: unknown, name?: unknown }
    try {
      claims = verifier(token)
    } catch (err) {
      return new Error(TOKEN_REFUSALS.invalid.replace('<code>', (err as { code?: string }).code ?? 'invalid'))
    }
    const { sub, rooms } = claims
    if (typeof sub !== 'string' || sub === '') return new Error(TOKEN_REFUSALS.noSubject)
    const name = cleanUsername(claims.name) ?? null
    if (rooms === undefined) return { subject: sub, rooms: null, name }
    // Centrifugo's channel claims are the model: the token opens these rooms and no other.
    if (!Array.isArray(rooms) || rooms.length > MAX_ROOM_CLAIMS || !rooms.every((room) => typeof room === 'string')) {
      return new Error(TOKEN_REFUSALS.badRooms)
    }
    return { subject: sub, rooms: new Set(rooms), name }
  }

  return {
    /** The one token check: valid, for `userId` and `roomId` when they are given. */
    check (token: string | undefined, userId?: string, roomId?: string): TokenCheck {
      const result = grant(token)
      if (result instanceof Error) return { ok: false, reason: result.message, forbidden: false }
      if (userId !== undefined && result.subject !== userId) return { ok: false, reason: TOKEN_REFUSALS.otherUser, forbidden: true, subject: result.subject }
      if (roomId !== undefined && result.rooms !== null && !result.rooms.has(roomId)) {
        return { ok: false, reason: TOKEN_REFUSALS.otherRoom, forbidden: true, subject: result.subject }
      }
      return { ok: true, ...result }
    },

    /** A token for `userId`, valid for `ttlSeconds`: for development and tests. */
    sign (userId: string, ttlSeconds = 3600, claims: { rooms?: string[], name?: string } = {}): string {
      return signer({ ...claims, sub: userId, exp: Math.floor(Date.now() / 1000) + ttlSeconds })
    }
  }
}

export type Auth = ReturnType<typeof createAuth>

/** The bearer token of an Authorization header, if there is one. */
export function bearerToken (header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '')
  return match?.[1]
}

/** The subprotocol that carries a socket's token: `bearer.<jwt>` (browsers set no socket headers). */
export const TOKEN_PROTOCOL_PREFIX = 'bearer.'
/** The subprotocol a socket that sends its token that way must also offer; the server selects it. */
export const SOCKET_PROTOCOL = 'parley'

/** The token of a `Sec-WebSocket-Protocol` header's `bearer.<jwt>` entry, if there is one. */
export function protocolToken (header: string | undefined): string | undefined {
  for (const entry of (header ?? '').split(',')) {
    const protocol = entry.trim()
    if (protocol.startsWith(TOKEN_PROTOCOL_PREFIX)) return protocol.slice(TOKEN_PROTOCOL_PREFIX.length)
  }
  return undefined
}

/**
 * A request URL fit for a log: every `token` query value (however its name is
 * percent-encoded: the query parser decodes `%74oken` to `token`) replaced.
 */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = new URLSearchParams(url.slice(q + 1))
  let redacted = false
  for (const key of new Set(params.keys())) {
    if (key.toLowerCase() === 'token') {
      params.set(key, 'redacted')
      redacted = true
    }
  }
  return redacted ? `${url.slice(0, q)}?${params.toString()}` : url
}
