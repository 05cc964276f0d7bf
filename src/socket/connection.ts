// A registry connection over a ws socket, with the per-socket byte cap and the recovery hold.
import { WebSocket } from 'ws'
import type { Connection } from '../fanout/connection-registry'
import { streamOf } from './ws-internals'

// A close handshake that a stalled peer never completes must not hold the socket.
const CLOSE_TIMEOUT_MS = 2000
// Keys remembered per socket: more than a connect's offline push can cross with.
const RECENT_KEYS = 1024

export interface SocketConnectionOptions {
  socket: WebSocket
  id: string
  roomId: string
  userId: string
  address: string
  maxBufferedBytes: number
  /** Called once, instead of a send, when the peer has fallen too far behind. */
  onSlow (): void
  /** A chat message at or below the last seq this socket was sent: refused, never sent. */
  onDuplicate (seq: number, lastSent: number): void
  /** A keyed frame (a direct message) was sent to this socket for the first time. */
  onKeySent? (key: string): void
}

export interface SocketConnection extends Connection {
  /** Writes straight to the socket, past a hold: replies and replayed history. */
  write (data: string): void
  /** Holds room deliveries back (in order, within the byte cap) until release. */
  hold (): void
  /** Sends what was held, less the chat messages at or below `throughSeq` (the replay had them). */
  release (throughSeq: number): void
  /** Records a keyed frame sent past the hold (with write): a held or later copy of it is dropped. */
  remember (key: string): void
}

/**
 * A registry connection over a ws socket, with a cap on the bytes it may queue.
 *
 * Room deliveries arrive as whole text frames (ws-internals.ts), framed once per
 * broadcast, and go straight to the TCP socket. That keeps their order with ws's own
 * sends (replies, close) because without permessage-deflate (off, plugins/websocket.ts)
 * ws writes every frame to the socket synchronously, in call order.
 */
export function createSocketConnection (opts: SocketConnectionOptions): SocketConnection {
  const { socket, maxBufferedBytes } = opts
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

  function slow (): void {
    cut = true
    held = null
    opts.onSlow()
  }

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
        heldBytes += data.length
        if (heldBytes > maxBufferedBytes) return slow()
        held.push({ data, seq, key })
        return
      }
      // Nothing may follow a close frame, and a closing socket takes no more data.
      if (socket.readyState !== WebSocket.OPEN) return
      // What the socket still holds for this peer (ws itself queues nothing without deflate).
      if (raw.writableLength > maxBufferedBytes) return slow()
      raw.write(data)
      if (seq !== undefined) lastSent = seq
      if (key !== undefined) this.remember(key)
    },
    remember (key) {
      if (recentKeys.size >= RECENT_KEYS) recentKeys.delete(recentKeys.values().next().value as string)
      recentKeys.add(key)
      opts.onKeySent?.(key)
    },
    write (data) {
      if (!cut) socket.send(data)
    },
    hold () {
      held = []
      heldBytes = 0
    },
    release (throughSeq) {
      const frames = held
      held = null
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
