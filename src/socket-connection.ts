import type { WebSocket } from 'ws'
import type { Connection } from './connection-registry'

// A close handshake that a stalled peer never completes must not hold the socket.
const CLOSE_TIMEOUT_MS = 2000

export interface SocketConnectionOptions {
  socket: WebSocket
  id: string
  roomId: string
  userId: string
  address: string
  maxBufferedBytes: number
  /** Called once, instead of a send, when the peer has fallen too far behind. */
  onSlow (): void
}

/** A registry connection over a ws socket, with a cap on the bytes it may queue. */
export function createSocketConnection (opts: SocketConnectionOptions): Connection {
  const { socket, maxBufferedBytes } = opts
  let cut = false
  return {
    id: opts.id,
    roomId: opts.roomId,
    userId: opts.userId,
    address: opts.address,
    send (data) {
      if (cut) return
      // bufferedAmount counts what ws and the kernel socket still hold for this peer.
      if (socket.bufferedAmount > maxBufferedBytes) {
        cut = true
        opts.onSlow()
        return
      }
      socket.send(data)
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
