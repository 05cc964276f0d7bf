// A socket's life in a room: register, snapshot, replay, frames, cleanup.
import { randomUUID } from 'node:crypto'
import type { WebSocket } from 'ws'
import type { TokenGrant } from '../access/auth'
import type { ChatDeps } from '../chat/messages'
import type { Config } from '../config'
import type { ConnectionRegistry } from '../fanout/connection-registry'
import type { PresenceTracker } from '../fanout/presence-tracker'
import type { Metrics } from '../ops/metrics'
import type { User } from '../store/user-store'
import { nameFor } from '../users/users'
import { CLOSES } from './close-codes'
import { closeAbusive, createSocketConnection, type SocketConnection } from './connection'
import type { SocketQuery } from './query'
import { createSocketSession, type SessionLogger } from './session'
import { announce, onlineNow, roomState, snapshot } from './room-presence'
import { onSocketError, replaceErrorListener } from './ws-internals'

// Messages a replay reads at a time: what one socket's replay keeps in memory.
const REPLAY_PAGE = 100

export interface SocketRequest extends Omit<SocketQuery, 'token'> {
  roomId: string
  userId: string
  address: string
  /** The token's grant (null in open mode): with tokens on, its name or the profile's names messages. */
  grant: TokenGrant | null
}

export interface SocketHandlerDeps {
  chat: ChatDeps
  registry: ConnectionRegistry
  presence: PresenceTracker
  config: Config
  metrics?: Pick<Metrics, 'frameRefused' | 'slowConsumerCut' | 'abuseClose' | 'duplicateDropped'>
}

/** What every step of one socket's life shares. */
export interface Socket {
  socket: WebSocket
  request: SocketRequest
  deps: SocketHandlerDeps
  log: SessionLogger
  connection: SocketConnection
  /** Writes a reply to this socket only, past a recovery hold, within its byte budget. */
  write (frame: object): void
  /** Writes bulk (snapshot, replay) to this socket only, waiting while its budget is full. Whether it went out. */
  writePaced (frame: object): Promise<boolean>
  /** The user behind the socket, read once, when its first chat frame needs the name (an idle socket never reads it). */
  account?: Promise<User | undefined>
}

function account (ctx: Socket): Promise<User | undefined> {
  // A failed read is not kept: the next chat frame asks again.
  ctx.account ??= ctx.deps.chat.store.getUser(ctx.request.userId).catch((err) => {
    ctx.account = undefined
    throw err
  })
  return ctx.account
}

/**
 * The steps, in order: a registry connection; the session that handles its frames
 * (listeners attached before any await, so frames that arrive meanwhile are queued,
 * not lost); registration (profile, registry, then snapshot, replay and presence);
 * the cleanup when it closes.
 */
export function openSocket (socket: WebSocket, request: SocketRequest, deps: SocketHandlerDeps, log: SessionLogger): void {
  const ctx = connect(socket, request, deps, log)
  // Live deliveries wait while the replay is read: nothing is missed, nothing sent twice.
  if (request.since !== undefined) ctx.connection.hold()
  const firstForUser = deps.registry.socketsOf(request.roomId, request.userId) === 0
  const ready = register(ctx, firstForUser)
  const session = createSocketSession({
    nameFor: async (given) => (request.grant === null ? nameFor(await account(ctx), given) : request.grant.name),
    deps: deps.chat,
    limits: deps.config,
    roomId: request.roomId,
    userId: request.userId,
    connectionId: ctx.connection.id,
    after: ready,
    reply: ctx.write,
    onAbuse: () => closeAbusive(ctx.connection, log, deps.metrics, 'frames'),
    log,
    metrics: deps.metrics
  })
  replaceErrorListener(socket, (err) => onSocketError(log, socket, err))
  socket.on('message', (data, isBinary) => session.handle(data as Buffer, isBinary))
  socket.on('close', (code) => {
    log.info({ code }, 'websocket closed')
    deps.registry.settle(session.end().then(() => leave(ctx, ready)).catch((err) => log.error({ err }, 'websocket cleanup failed')))
  })
  ready.catch((err) => {
    log.error({ err }, 'websocket registration failed')
    ctx.connection.close(CLOSES.registrationFailed.code, CLOSES.registrationFailed.reason)
  })
}

/** The registry connection, with the socket's byte budget: a slow reader is cut, not queued for. */
function connect (socket: WebSocket, request: SocketRequest, deps: SocketHandlerDeps, log: SessionLogger): Socket {
  const { registry, config, metrics } = deps
  let duplicates = 0
  const connection: SocketConnection = createSocketConnection({
    socket,
    id: randomUUID(),
    roomId: request.roomId,
    userId: request.userId,
    address: request.address,
    maxBufferedBytes: config.maxBufferedBytes,
    drainTimeoutMs: config.wsDrainTimeoutMs,
    onSlow: () => {
      // Out of the room at once, so no more bytes pile up; then the close.
      log.warn({ buffered: socket.bufferedAmount }, 'slow consumer cut')
      metrics?.slowConsumerCut()
      registry.remove(connection).catch((err) => log.error({ err }, 'registry removal failed'))
      connection.close(CLOSES.slowConsumer.code, CLOSES.slowConsumer.reason)
    },
    limits: config,
    onAbuse: () => closeAbusive(connection, log, metrics, 'pings'),
    onDuplicate: (seq, lastSent) => {
      metrics?.duplicateDropped()
      if (duplicates++ === 0) log.error({ seq, lastSent }, 'a chat message reached a socket twice or out of order; dropped (later ones are counted in parley_ws_duplicates_dropped_total)')
    }
  })
  return {
    socket,
    request,
    deps,
    log,
    connection,
    write: (frame) => { connection.write(JSON.stringify(frame)) },
    writePaced: (frame) => connection.writePaced(JSON.stringify(frame))
  }
}

/** Profile (a socket's query values only fill what is missing) and registry, then snapshot, replay, presence. */
async function register (ctx: Socket, firstForUser: boolean): Promise<void> {
  const { request, deps, log } = ctx
  const registered = deps.chat.store.upsertProfile(request.roomId, request.userId, { username: request.username, avatarUrl: request.avatarUrl }, 'fill')
    .then(({ profile, created }) => {
      if (created) log.info({}, `✅ Auto-registered user ${request.userId}`)
      return profile
    })
  const [profile] = await Promise.all([registered, deps.registry.add(ctx.connection, true)])
  const online = await onlineNow(ctx)
  try {
    // A room of a thousand profiles is bulk too: it waits for the peer to read, within the budget.
    if (request.presence || deps.config.extendedFrames) await ctx.writePaced(await roomState(ctx, online))
    if (!await snapshot(ctx, online)) return
  } finally {
    online.watch.end()
  }
  if (request.since !== undefined && !await recover(ctx, request.since)) return
  // Online anywhere already (another tab, another instance): no second user_joined.
  if (firstForUser) await announce(ctx, 'user_joined', profile)
}

/** After the session has finished its frames: out of the registry, and user_left for the user's last socket. */
async function leave (ctx: Socket, ready: Promise<void>): Promise<void> {
  const { registry, chat } = ctx.deps
  const { roomId, userId } = ctx.request
  const removed = registry.remove(ctx.connection)
  // The registry counts synchronously: two tabs closing at once, one user_left. None
  // when a lone instance shuts down: every socket there is closing with 1012 and its
  // client comes back in seconds; a room's user_left frames to sockets that are
  // leaving too are O(n²) work that only delays the exit, and every reconnect with it.
  // Other instances' sockets (shared presence) still hear of it.
  const quiet = registry.closing && !ctx.deps.presence.shared
  if (!quiet && registry.socketsOf(roomId, userId) === 0 && await ready.then(() => true, () => false)) {
    await announce(ctx, 'user_left', await chat.store.getProfile(roomId, userId))
  }
  await removed
}

/**
 * The replay of `since=`: what was missed, a recovery frame, then what was held meanwhile.
 * Read and written a page at a time, each frame waiting while the socket's budget is
 * full: a replay larger than the budget reaches a reader, and is never all in memory.
 * False when the socket was cut or closed on the way.
 */
async function recover (ctx: Socket, after: number): Promise<boolean> {
  const { config, chat: { store } } = ctx.deps
  const { roomId } = ctx.request
  const cap = config.recoveryMaxMessages
  // Where the replay ends: anything stored later reaches the hold (the room's live
  // stream started before this read). Seqs are dense, so end - after were missed.
  const end = await store.lastSeq(roomId)
  if (end - after > cap) {
    ctx.write({ type: 'recovery', status: 'gap', room_id: roomId, since: after, last_seq: end, message: `more than ${cap} messages were missed; load them from history` })
    ctx.connection.release(end)
    return true
  }
  let cursor = after
  let replayed = 0
  while (cursor < end) {
    const page = await store.page(roomId, { afterSeq: cursor, limit: REPLAY_PAGE })
    for (const message of page) if (!await ctx.writePaced(message)) return false
    replayed += page.length
    if (page.length > 0) cursor = page[page.length - 1].seq
    if (page.length < REPLAY_PAGE) break
  }
  // A since past the room's end (a store that was reset) must not swallow new messages.
  const through = replayed > 0 ? cursor : Math.min(after, end)
  ctx.write({ type: 'recovery', status: 'complete', room_id: roomId, since: after, last_seq: through, replayed })
  ctx.connection.release(through)
  return true
}
