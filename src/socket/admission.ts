// Whether a socket (room or DM) may open: ids, token, caps. Refusals are close codes.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Auth, TokenGrant } from '../access/auth'
import type { Config } from '../config'
import type { ConnectionRegistry } from '../fanout/connection-registry'
import { IdSchema } from '../schemas/http'
import { CLOSES, type Close } from './close-codes'

const idCheck = TypeCompiler.Compile(IdSchema)

/** The id rule of REST and sockets. */
export const isValidId = (value: unknown): value is string => idCheck.Check(value)

export interface Refusal extends Close {
  /** What the log line says, with its fields. */
  log: { level: 'info' | 'warn', msg: string, fields?: object }
}

/** A socket let in, with its token's grant (null in open mode). */
export interface Admitted {
  grant: TokenGrant | null
}

/**
 * Runs first in the socket route. These refusals are close codes, not HTTP statuses,
 * although they could be decided before the upgrade: a browser sees no status of a
 * failed upgrade, and the client stops reconnecting only on 4004, so the code is the
 * only way to tell it "never" from "later".
 */
export function createAdmission ({ auth, registry, config }: {
  auth: Auth | null
  registry: Pick<ConnectionRegistry, 'connections' | 'countFrom' | 'connectionCount'>
  config: Pick<Config, 'maxSocketsPerRoom' | 'maxSocketsPerIp' | 'maxSockets'>
}) {
  /** `roomId` null: a DM socket, which joins no room. `address`: its clientKey (IPv6 by /64). */
  return function admit (roomId: string | null, userId: string, address: string, token: string | undefined): Refusal | Admitted {
    if ((roomId !== null && !idCheck.Check(roomId)) || !idCheck.Check(userId)) {
      return { ...CLOSES.invalidId, log: { level: 'info', msg: 'websocket refused: invalid room or user id' } }
    }
    let grant: TokenGrant | null = null
    if (auth !== null) {
      const result = auth.check(token, userId, roomId ?? undefined)
      if (!result.ok) return { code: CLOSES.token.code, reason: result.reason, log: { level: 'warn', msg: 'websocket refused: token', fields: { reason: result.reason } } }
      grant = result
    }
    if (registry.connectionCount >= config.maxSockets) {
      return { ...CLOSES.serverFull, log: { level: 'warn', msg: 'websocket refused: the instance is full', fields: { limit: config.maxSockets } } }
    }
    if (roomId !== null && registry.connections(roomId).size >= config.maxSocketsPerRoom) {
      return { ...CLOSES.roomFull, log: { level: 'warn', msg: 'websocket refused: room is full', fields: { limit: config.maxSocketsPerRoom } } }
    }
    if (registry.countFrom(address) >= config.maxSocketsPerIp) {
      return { ...CLOSES.tooManyFromAddress, log: { level: 'warn', msg: 'websocket refused: too many sockets from one address', fields: { address, limit: config.maxSocketsPerIp } } }
    }
    return { grant }
  }
}
