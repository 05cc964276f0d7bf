// Protocol pings: keep idle sockets alive through proxies and find dead peers, spread over the interval.
import { randomBytes } from 'node:crypto'
import type { WebSocket } from 'ws'

/** Slices of the ping interval: one a second up to 30, none shorter than 100 ms. */
function sliceCount (intervalMs: number): number {
  return Math.max(1, Math.min(30, Math.floor(intervalMs / 100)))
}

/**
 * Pings every socket once per `intervalMs`; a socket that has not answered the
 * previous ping by the next one is terminated. Only a pong that echoes the ping's
 * payload counts: a peer that never reads cannot stay alive by sending pongs of its own.
 *
 * The sockets are spread over slices of the interval and one slice is visited per
 * tick: 10,000 sockets are ~334 pings (and pongs) a second, not a burst of 10,000
 * every 30 s holding every delivery behind it.
 */
export function createHeartbeat (intervalMs: number) {
  // Each slice maps its sockets to the payload of the ping they still owe (null: answered).
  const slices = Array.from({ length: sliceCount(intervalMs) }, () => new Map<WebSocket, Buffer | null>())
  let tick = 0
  const timer = setInterval(() => {
    const slice = slices[tick++ % slices.length]
    for (const [socket, owed] of slice) {
      if (owed !== null) {
        socket.terminate()
        continue
      }
      const payload = randomBytes(8)
      slice.set(socket, payload)
      socket.ping(payload)
    }
  }, intervalMs / slices.length)
  timer.unref()

  return {
    /** Takes a new socket into the emptiest slice, so the slices stay even as sockets come and go. */
    add (socket: WebSocket): void {
      const slice = slices.reduce((least, s) => (s.size < least.size ? s : least))
      slice.set(socket, null)
      socket.on('pong', (data: Buffer) => {
        const owed = slice.get(socket)
        if (owed && data.equals(owed)) slice.set(socket, null)
      })
      socket.once('close', () => slice.delete(socket))
    },
    stop (): void {
      clearInterval(timer)
    }
  }
}
