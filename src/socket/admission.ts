// Whether a socket (room or DM) may open: ids, token, caps. Refusals are close codes.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Auth, TokenGrant } from '../access/auth'
import type { Config } from '../config'
import type { ConnectionRegistry } from '../fanout/connection-registry'
import { IdSchema } from '../schemas/http'
import type { WebSocket } from 'ws'
import { CLOSES, type Close } from './close-codes'
import type { SessionLogger } from './session'

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

/** What a socket asks for. `roomId` null: a DM socket, which joins no room. */
export interface SocketAsk {
  roomId: string | null
  userId: string
  /** Its clientKey (IPv6 by /64). */
  address: string
  token: string | undefined
  /** The room is new and its address is past NEW_ROOMS_PER_IP (decided before the upgrade). */
  newRoomRefused?: boolean
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
  config: Pick<Config, 'maxSocketsPerRoom' | 'maxSocketsPerIp' | 'maxSockets' | 'newRoomsPerIp'>
}) {
  return function admit ({ roomId, userId, address, token, newRoomRefused = false }: SocketAsk): Refusal | Admitted {
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
    if (newRoomRefused) {
      return { ...CLOSES.tooManyRooms, log: { level: 'warn', msg: 'websocket refused: too many new rooms from one address', fields: { address, limit: config.newRoomsPerIp } } }
    }
    return { grant }
  }
}

/** Sends a refusal: logged, then the socket closed with its code. */
export function refuse (socket: Pick<WebSocket, 'close'>, log: Pick<SessionLogger, 'info' | 'warn'>, refusal: Refusal): void {
  log[refusal.log.level](refusal.log.fields ?? {}, refusal.log.msg)
  socket.close(refusal.code, refusal.reason)
}
