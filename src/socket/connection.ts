// A registry connection over a ws socket, with the socket's byte budget and the recovery hold.
import { WebSocket } from 'ws'
import type { Config } from '../config'
import type { Connection } from '../fanout/connection-registry'
import type { Metrics } from '../ops/metrics'
import { CLOSES } from './close-codes'
import type { SessionLogger } from './session'
import { Strikes, TokenBucket } from './token-bucket'
import { pongFrame, streamOf, textFrame } from './ws-internals'

// A close handshake that a stalled peer never completes must not hold the socket.
const CLOSE_TIMEOUT_MS = 2000
// Keys remembered per socket: more than a connect's offline push can cross with.
const RECENT_KEYS = 1024
const EMPTY = Buffer.alloc(0)

export interface SocketConnectionOptions {
  socket: WebSocket
  id: string
  roomId: string
  userId: string
  address: string
  /** The socket's byte budget: what may be queued for it (unsent, and held) at any time. */
  maxBufferedBytes: number
  /** How long a paced write waits for the peer to read before the socket is cut. */
  drainTimeoutMs: number
  /** Called once, instead of a write, when the peer has fallen too far behind. */
  onSlow (): void
  /** A chat message at or below the last seq this socket was sent: refused, never sent. */
  onDuplicate (seq: number, lastSent: number): void
  /** A keyed frame (a direct message) was sent to this socket for the first time. */
  onKeySent? (key: string): void
  /**
   * The peer's protocol pings, limited as frames are: WS_FRAME_RATE a second and
   * WS_FRAME_BURST above it are answered; each one past that is a strike, unanswered,
   * and WS_ABUSE_LIMIT strikes within 10 s call `onAbuse` (once). A ping costs the
   * server a pong write, so a flood of them is a flood of frames.
   */
  limits: Pick<Config, 'wsFrameRate' | 'wsFrameBurst' | 'wsAbuseLimit'>
  /** Called once when the peer keeps pinging past its limits: the caller closes with 1008. */
  onAbuse (): void
}

export interface SocketConnection extends Connection {
  /** What the server holds for this socket: bytes its stream has not sent yet, and held deliveries. */
  queuedBytes (): number
  /** A reply, past a hold, within the budget: one that does not fit cuts the socket. Whether it went out. */
  write (text: string): boolean
  /** Bulk (replayed history, snapshots), past a hold: waits while the budget is full, cut if the peer does not read. */
  writePaced (text: string): Promise<boolean>
  /** Holds room deliveries back (in order, within the budget) until release. */
  hold (): void
  /** Sends what was held, less the chat messages at or below `throughSeq` (the replay had them). */
  release (throughSeq: number): void
  /** Records a keyed frame sent past the hold (with write): a held or later copy of it is dropped. */
  remember (key: string): void
}

/** A socket past its limits (frames or protocol pings) for WS_ABUSE_LIMIT refusals: closed with 1008. */
export function closeAbusive (connection: SocketConnection, log: SessionLogger, metrics: Pick<Metrics, 'abuseClose'> | undefined, cause: 'frames' | 'pings'): void {
  log.warn({ cause }, 'closing an abusive socket')
  metrics?.abuseClose()
  connection.close(CLOSES.abuse.code, CLOSES.abuse.reason)
}

/**
 * A registry connection over a ws socket, with one byte budget for everything the
 * server queues for it: broadcasts, held deliveries, replies, pongs and replays.
 *
 * Every frame is written whole to the TCP socket here, past ws's sender, so that its
 * bytes are counted before they are queued. That keeps their order with ws's own
 * sends (close, heartbeat pings) because without permessage-deflate (off,
 * plugins/websocket.ts) ws writes every frame to the socket synchronously, in call
 * order. Pongs are ours too (autoPong is off there): a client flooding pings at a
 * socket it never reads would otherwise queue pongs without bound.
 */
export function createSocketConnection (opts: SocketConnectionOptions): SocketConnection {
  const { socket, maxBufferedBytes, drainTimeoutMs } = opts
  const raw = streamOf(socket)
  let cut = false
  let held: Array<{ data: Buffer, seq?: number, key?: string }> | null = null
  let heldBytes = 0
  // The last hop's invariant: chat messages go out with strictly increasing seqs.
  // `replayed`: what a recovery replay sent; a publish of one of those arriving after
  // the release (the replay read it committed, before it was published) is expected
  // and dropped quietly. Anything else at or below `lastSent` is a bug upstream.
  let replayed = 0
  let lastSent = 0
  // Keys sent lately (direct messages): a live push and an offline one can cross.
  const recentKeys = new Set<string>()

  const queued = () => raw.writableLength + heldBytes
  // An empty queue takes any one frame: a frame larger than the whole budget could
  // otherwise never be sent. Past that, nothing may take the queue over the budget.
  const fits = (bytes: number) => queued() === 0 || queued() + bytes <= maxBufferedBytes
  // Bulk fills at most half the budget in the stream: the other half is room for the
  // replies and the broadcasts held meanwhile, so a reader keeping up is not cut by them.
  const roomForBulk = (bytes: number) => fits(bytes) && (raw.writableLength === 0 || raw.writableLength + bytes <= maxBufferedBytes / 2)
  // Nothing may follow a close frame, and a closing socket takes no more data.
  const open = () => !cut && socket.readyState === WebSocket.OPEN

  function slow (): void {
    cut = true
    held = null
    heldBytes = 0
    opts.onSlow()
  }

  /** The one way a frame reaches the socket: within the budget, or the socket is cut. */
  function put (frame: Buffer): boolean {
    if (!open()) return false
    if (!fits(frame.length)) {
      slow()
      return false
    }
    raw.write(frame)
    return true
  }

  /** Resolves true once everything queued now has gone to the kernel, false after `ms`. */
  function flushed (ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      // An empty write's callback runs once the writes before it have left.
      raw.write(EMPTY, (err) => {
        clearTimeout(timer)
        resolve(err == null)
      })
    })
  }

  // Made at the first ping: browsers never send one, so most sockets never pay for them.
  let pings: { bucket: TokenBucket, strikes: Strikes } | undefined
  socket.on('ping', (payload: Buffer) => {
    const { limits } = opts
    pings ??= { bucket: new TokenBucket(limits.wsFrameRate, limits.wsFrameBurst), strikes: new Strikes(limits.wsAbuseLimit) }
    if (pings.bucket.take()) put(pongFrame(payload))
    else if (pings.strikes.strike()) opts.onAbuse()
  })

  return {
    id: opts.id,
    roomId: opts.roomId,
    userId: opts.userId,
    address: opts.address,
    send (data, seq, key) {
      if (cut) return
      if (seq !== undefined) {
        if (seq <= replayed) return
        if (seq <= lastSent) return opts.onDuplicate(seq, lastSent)
      }
      if (key !== undefined && recentKeys.has(key)) return
      if (held) {
        if (!fits(data.length)) return slow()
        heldBytes += data.length
        held.push({ data, seq, key })
        return
      }
      if (!put(data)) return
      if (seq !== undefined) lastSent = seq
      if (key !== undefined) this.remember(key)
    },
    queuedBytes: queued,
    remember (key) {
      if (recentKeys.size >= RECENT_KEYS) recentKeys.delete(recentKeys.values().next().value as string)
      recentKeys.add(key)
      opts.onKeySent?.(key)
    },
    write (text) {
      return open() && put(textFrame(text))
    },
    async writePaced (text) {
      const frame = textFrame(text)
      while (open() && !roomForBulk(frame.length)) {
        // Held deliveries alone fill the budget: no read of the peer makes room for this.
        if (raw.writableLength === 0 || !(await flushed(drainTimeoutMs))) {
          if (open()) slow()
          return false
        }
      }
      return put(frame)
    },
    hold () {
      held = []
      heldBytes = 0
    },
    release (throughSeq) {
      const frames = held
      held = null
      heldBytes = 0
      replayed = Math.max(replayed, throughSeq)
      lastSent = Math.max(lastSent, throughSeq)
      if (!frames) return
      for (const frame of frames) this.send(frame.data, frame.seq, frame.key)
    },
    close (code, reason) {
      cut = true
      socket.close(code, reason)
      const timer = setTimeout(() => socket.terminate(), CLOSE_TIMEOUT_MS)
      timer.unref()
      socket.once('close', () => clearTimeout(timer))
    }
  }
}
