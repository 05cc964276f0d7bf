// A socket's life in a room: register, snapshot, replay, frames, cleanup.
import { randomUUID } from 'node:crypto'
import type { WebSocket } from 'ws'
import type { ChatDeps } from '../chat/messages'
import type { Config } from '../config'
import type { ConnectionRegistry } from '../fanout/connection-registry'
import type { Metrics } from '../ops/metrics'
import { presenceMember, publishPresence } from '../fanout/presence'
import type { PresenceTracker } from '../fanout/presence-tracker'
import type { Profile } from '../store/store'
import { createSocketConnection, type SocketConnection } from './connection'
import { createSocketSession, type SessionLogger } from './session'

export interface SocketRequest {
  roomId: string
  userId: string
  address: string
  /** Query values, already cleaned: a bad one is simply absent. */
  username?: string
  avatarUrl?: string
  since?: number
  presence: boolean
}

export interface SocketHandlerDeps {
  chat: ChatDeps
  registry: ConnectionRegistry
  presence: PresenceTracker
  config: Config
  metrics?: Pick<Metrics, 'frameRefused' | 'slowConsumerCut' | 'abuseClose'>
}

/**
 * A socket's life in a room: registration (profile, registry, presence), the
 * optional room_state and recovery replay, frames through its session, and the
 * cleanup when it closes.
 */
export function openSocket (socket: WebSocket, request: SocketRequest, deps: SocketHandlerDeps, log: SessionLogger): void {
  const { chat, registry, presence, config, metrics } = deps
  const { store, broker } = chat
  const { roomId, userId, since } = request

  const connection: SocketConnection = createSocketConnection({
    socket,
    id: randomUUID(),
    roomId,
    userId,
    address: request.address,
    maxBufferedBytes: config.maxBufferedBytes,
    onSlow: () => {
      // Out of the room at once, so no more bytes pile up; then the close.
      log.warn({ buffered: socket.bufferedAmount }, 'slow consumer cut')
      metrics?.slowConsumerCut()
      registry.remove(connection).catch((err) => log.error({ err }, 'registry removal failed'))
      connection.close(1013, 'slow consumer')
    }
  })
  const write = (frame: object) => connection.write(JSON.stringify(frame))

  // Live deliveries wait while the replay is read: nothing is missed, nothing sent twice.
  if (since !== undefined) connection.hold()
  const firstForUser = registry.socketsOf(roomId, userId) === 0

  // A socket's query values only fill what the profile is missing.
  const registered = store.upsertProfile(roomId, userId, { username: request.username, avatarUrl: request.avatarUrl }, 'fill')
    .then(({ profile, created }) => {
      if (created) log.info({}, `✅ Auto-registered user ${userId}`)
      return profile
    })
  const ready = Promise.all([registered, registry.add(connection)]).then(async ([profile]) => {
    if (request.presence || config.extendedFrames) write(await roomState())
    if (since !== undefined) await recover(since)
    // Online anywhere already (another tab, another instance): no second user_joined.
    if (firstForUser) await announce('user_joined', profile)
  })

  /** Presence is best effort: with Redis away the socket still chats, and says so in the log. */
  async function announce (type: 'user_joined' | 'user_left', profile: Profile | undefined): Promise<void> {
    try {
      const changed = type === 'user_joined' ? await presence.enter(roomId, userId) : await presence.leave(roomId, userId)
      if (!changed) return
      const onlineCount = (await presence.online(roomId)).length
      await publishPresence(broker, { type, roomId, userId, profile, onlineCount, connectionId: connection.id })
    } catch (err) {
      log.warn({ err }, `presence update failed (${type})`)
    }
  }

  async function roomState () {
    const online = await presence.online(roomId).catch(() => registry.onlineUsers(roomId))
    if (!online.includes(userId)) online.push(userId)
    const members = await Promise.all(online.map(async (id) => presenceMember(id, await store.getProfile(roomId, id))))
    return { type: 'room_state', room_id: roomId, online: members, online_count: online.length, last_seq: await store.lastSeq(roomId) }
  }

  async function recover (after: number): Promise<void> {
    const cap = config.recoveryMaxMessages
    const missed = await store.page(roomId, { afterSeq: after, limit: cap + 1 })
    if (missed.length > cap) {
      const lastSeq = await store.lastSeq(roomId)
      write({ type: 'recovery', status: 'gap', room_id: roomId, since: after, last_seq: lastSeq, message: `more than ${cap} messages were missed; load them from history` })
      connection.release(lastSeq)
      return
    }
    for (const message of missed) write(message)
    // A since past the room's end (a store that was reset) must not swallow new messages.
    const through = missed.length > 0 ? missed[missed.length - 1].seq : Math.min(after, await store.lastSeq(roomId))
    write({ type: 'recovery', status: 'complete', room_id: roomId, since: after, last_seq: through, replayed: missed.length })
    connection.release(through)
  }

  const session = createSocketSession({
    deps: chat,
    limits: config,
    roomId,
    userId,
    connectionId: connection.id,
    after: ready,
    reply: write,
    onAbuse: () => {
      metrics?.abuseClose()
      connection.close(1008, 'rate limit exceeded')
    },
    log,
    metrics
  })

  // @fastify/websocket's error listener closes over the Fastify request and reply,
  // keeping them alive as long as the socket: this one does its job without them.
  // A peer's protocol error (oversized frame, bad framing) is the peer's fault: ws has
  // already sent the close code (1009, 1002…), so it is logged at info.
  socket.removeAllListeners('error')
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code?.startsWith('WS_ERR_')) log.info({ code: err.code }, `websocket protocol error: ${err.message}`)
    else log.error({ err }, 'websocket error')
    socket.terminate()
  })

  // Listeners go on before any await: frames that arrive meanwhile are queued, not lost.
  socket.on('message', (data, isBinary) => session.handle(data as Buffer, isBinary))
  socket.on('close', (code) => {
    log.info({ code }, 'websocket closed')
    registry.settle(session.end()
      .then(async () => {
        const removed = registry.remove(connection)
        // The registry counts synchronously: two tabs closing at once, one user_left.
        if (registry.socketsOf(roomId, userId) === 0 && await ready.then(() => true, () => false)) {
          await announce('user_left', await store.getProfile(roomId, userId))
        }
        await removed
      })
      .catch((err) => log.error({ err }, 'websocket cleanup failed')))
  })
  ready.catch((err) => {
    log.error({ err }, 'websocket registration failed')
    connection.close(1011, 'registration failed')
  })
}
