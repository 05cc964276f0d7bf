// A user's DM socket: live DMs, the offline ones pushed once on connect, read receipts, typing, partners' presence.
import { randomUUID } from 'node:crypto'
import type { WebSocket } from 'ws'
import type { TokenGrant } from '../access/auth'
import { ChatError } from '../chat/errors'
import type { Config } from '../config'
import type { ConnectionRegistry } from '../fanout/connection-registry'
import type { PresenceTracker } from '../fanout/presence-tracker'
import type { Metrics } from '../ops/metrics'
import { CLOSES } from '../socket/close-codes'
import { closeAbusive, createSocketConnection } from '../socket/connection'
import { parseJsonObject, unknownType } from '../socket/frames'
import type { SessionLogger } from '../socket/session'
import { Strikes, TokenBucket } from '../socket/token-bucket'
import { onSocketError, replaceErrorListener } from '../socket/ws-internals'
import { pairKey } from '../store/direct-store'
import { roomName } from '../store/user-store'
import { dmChannel, dmWire, inboundKey, sendDirect, type DirectDeps } from './direct'

export interface DmSocketDeps {
  direct: DirectDeps
  registry: ConnectionRegistry
  presence: PresenceTracker
  config: Config
  metrics?: Pick<Metrics, 'slowConsumerCut' | 'abuseClose'>
}

// A claimed DM not marked delivered (the process died between push and mark) is
// pushed again after this: at-least-once across a crash, once otherwise.
const CLAIM_LEASE_MS = 30_000
// Claimed, and so kept in memory, at a time: a batch goes out as the socket drains.
const PUSH_BATCH = 100
const MAX_PARTNERS = 500

/** Opens a DM socket for `userId`. The path's id is the sender, whatever a frame says. */
export function openDmSocket (socket: WebSocket, request: { userId: string, address: string, username?: string, avatarUrl?: string, grant: TokenGrant | null }, deps: DmSocketDeps, log: SessionLogger): void {
  const { direct, registry, presence, config } = deps
  const { store, broker } = direct
  const { userId } = request
  const channel = dmChannel(userId)
  const write = (frame: object) => { connection.write(JSON.stringify(frame)) }

  // Deliveries to this user's channel marked "in" are DMs to them: once one is on a
  // socket, it is delivered (marked in batches, once per event-loop turn).
  let toMark: string[] = []
  const mark = (id: string) => {
    if (toMark.length === 0) {
      setImmediate(() => {
        const ids = toMark
        toMark = []
        store.markDelivered(ids).catch((err) => log.error({ err }, 'marking DMs delivered failed'))
      })
    }
    toMark.push(id)
  }
  const connection = createSocketConnection({
    socket,
    id: randomUUID(),
    roomId: channel,
    userId,
    address: request.address,
    maxBufferedBytes: config.maxBufferedBytes,
    drainTimeoutMs: config.wsDrainTimeoutMs,
    onSlow: () => {
      log.warn({ buffered: socket.bufferedAmount }, 'slow consumer cut (DM socket)')
      deps.metrics?.slowConsumerCut()
      registry.remove(connection).catch(() => {})
      connection.close(CLOSES.slowConsumer.code, CLOSES.slowConsumer.reason)
    },
    limits: config,
    onAbuse: () => closeAbusive(connection, log, deps.metrics, 'pings'),
    onDuplicate: () => {},
    onKeySent: (key) => { if (key.startsWith('in:')) mark(key.slice(3)) }
  })
  const firstSocket = registry.socketsOf(channel, userId) === 0

  async function register (): Promise<void> {
    // An id first seen on a DM socket is a user too (GET /users/{id} answers it).
    if (request.username !== undefined && !(await store.getUser(userId))) {
      await store.createUser({ id: userId, username: request.username }).catch(() => {})
    }
    // Live DMs wait while the undelivered ones are pushed: oldest first, then live.
    connection.hold()
    await registry.add(connection)
    // Partners online now, as the client learns them: one user_joined each.
    const partners = await store.partners(userId, MAX_PARTNERS)
    const online = await Promise.all(partners.map(async (id) => (await presence.online(dmChannel(id)).catch((): string[] => [])).includes(id)))
    for (const [i, partner] of partners.entries()) {
      if (online[i] && !await connection.writePaced(JSON.stringify(await presenceFrame('user_joined', partner)))) return
    }
    if (!await pushUndelivered()) return
    connection.release(0)
    if (firstSocket && await presence.enter(channel, userId).catch(() => false)) await tellPartners('user_joined', partners)
  }

  /**
   * The DMs that reached no socket of this user yet, oldest first, each once, waiting
   * while the socket's budget is full. False when the socket was cut on the way: the
   * claimed DMs it was not sent stay undelivered (pushed again once the claim expires).
   */
  async function pushUndelivered (): Promise<boolean> {
    for (;;) {
      const batch = await store.claimUndelivered(userId, CLAIM_LEASE_MS, PUSH_BATCH)
      for (const message of batch) {
        if (!await connection.writePaced(JSON.stringify(dmWire(message)))) return false
        connection.remember(inboundKey(message.id))
      }
      if (batch.length < PUSH_BATCH) return true
    }
  }

  async function presenceFrame (type: 'user_joined' | 'user_left', id: string) {
    const user = await store.getUser(id)
    return { type, user_id: id, username: user ? roomName(user) : null, avatar_url: user?.avatarUrl ?? null, avatar_urls: user?.avatarUrls ?? null, timestamp: new Date().toISOString() }
  }

  async function tellPartners (type: 'user_joined' | 'user_left', partners: string[]): Promise<void> {
    const data = JSON.stringify(await presenceFrame(type, userId))
    await Promise.all(partners.map((partner) => broker.publish(dmChannel(partner), { data })))
  }

  // Frames one at a time, in order, within the room socket's limits; a socket that keeps
  // going past them is closed as a room socket is (WS_ABUSE_LIMIT refusals in 10 s).
  const frames = new TokenBucket(config.wsFrameRate, config.wsFrameBurst)
  const messages = new TokenBucket(config.wsMessageRate, config.wsMessageBurst)
  const strikes = new Strikes(config.wsAbuseLimit)
  let pending = 0
  let queue: Promise<unknown> = register().catch((err) => {
    log.error({ err }, 'DM socket registration failed')
    connection.close(CLOSES.registrationFailed.code, CLOSES.registrationFailed.reason)
  })
  const refuse = (err: unknown, clientId?: string) => {
    if (!(err instanceof ChatError)) log.error({ err }, 'DM frame failed')
    const frame: Record<string, unknown> = err instanceof ChatError
      ? { type: 'error', code: err.code, message: err.message }
      : { type: 'error', code: 'internal_error', message: 'the frame could not be processed; try again' }
    if (clientId !== undefined) frame.client_id = clientId
    write(frame)
    if (err instanceof ChatError && err.code === 'rate_limited' && strikes.strike()) closeAbusive(connection, log, deps.metrics, 'frames')
  }

  async function handle (frame: Record<string, unknown>): Promise<void> {
    switch (frame.type) {
      case 'dm_message': {
        const clientId = typeof frame.client_id === 'string' ? frame.client_id : undefined
        const { message, created } = await sendDirect(direct, {
          senderId: userId,
          receiverId: frame.receiver_id,
          content: frame.content,
          // With tokens on, the token's name or the profile's, never the frame's.
          username: request.grant === null ? frame.sender_username : request.grant.name,
          avatar: frame.sender_avatar,
          clientId,
          connectionId: connection.id,
          fallback: request.grant === null ? { username: request.username, avatarUrl: request.avatarUrl } : undefined
        })
        write({ type: 'dm_sent', id: message.id, conversation_id: message.conversationId, receiver_id: message.receiverId, timestamp: message.createdAt, created, ...(clientId ? { client_id: clientId } : {}) })
        return
      }
      case 'dm_read': {
        // sender_id: the partner whose messages this user read.
        const partner = frame.sender_id
        if (typeof partner !== 'string' || partner === userId) throw new ChatError('invalid_frame', 'dm_read needs the sender_id of the messages read')
        const conversationId = pairKey(userId, partner)
        if (await store.markRead(conversationId, userId) > 0) {
          await broker.publish(dmChannel(partner), { data: JSON.stringify({ type: 'dm_read', conversation_id: conversationId, reader_id: userId, timestamp: new Date().toISOString() }) })
        }
        return
      }
      case 'dm_typing': {
        const receiver = frame.receiver_id
        if (typeof receiver !== 'string' || receiver === userId) throw new ChatError('invalid_frame', 'dm_typing needs a receiver_id')
        const typing = { type: 'dm_typing', sender_id: userId, receiver_id: receiver, is_typing: frame.is_typing !== false, timestamp: new Date().toISOString() }
        await broker.publish(dmChannel(receiver), { data: JSON.stringify(typing) })
        return
      }
      case 'keep_alive':
        write({ type: 'ping' })
        return
      case 'pong':
        return
      default:
        throw unknownType(frame.type)
    }
  }

  replaceErrorListener(socket, (err) => onSocketError(log, socket, err))
  socket.on('message', (data, isBinary) => {
    if (!frames.take()) return refuse(new ChatError('rate_limited', 'too many frames; slow down'))
    let frame: Record<string, unknown>
    try {
      frame = parseJsonObject(data as Buffer, isBinary)
    } catch (err) {
      return refuse(err)
    }
    const clientId = typeof frame.client_id === 'string' ? frame.client_id : undefined
    if (frame.type === 'dm_message' && !messages.take()) return refuse(new ChatError('rate_limited', `too many messages; at most ${config.wsMessageRate} a second`), clientId)
    if (pending >= config.wsMaxPendingFrames) return refuse(new ChatError('overloaded', 'too many frames in flight; slow down'), clientId)
    pending++
    queue = queue.then(() => handle(frame)).catch((err) => refuse(err, clientId)).finally(() => { pending-- })
  })
  socket.on('close', () => {
    registry.settle(queue.then(async () => {
      await registry.remove(connection)
      if (registry.socketsOf(channel, userId) === 0 && await presence.leave(channel, userId).catch(() => false)) {
        await tellPartners('user_left', await store.partners(userId, MAX_PARTNERS))
      }
    }).catch((err) => log.error({ err }, 'DM socket cleanup failed')))
  })
}
