// A room's coalesced presence frames: queued in a turn (or a window), sent as one write per socket.
import type { Envelope } from './broker'
import type { Connection } from './connection-registry'

// A room's presence frames go out at the end of the turn, and at most once per this
// window while they keep coming (a storm of joins after a deploy): one write per
// socket per window instead of one per join.
const COALESCE_WINDOW_MS = 1000

/**
 * The presence frames of one room waiting to go out together. `unread`: the room's
 * sockets whose presence snapshot is still to be read, which these frames skip (the
 * read covers them). `delivered` counts each frame's sockets, as a direct send would.
 */
export function createPresenceBatch (connections: ReadonlySet<Connection>, unread: ReadonlySet<Connection>, delivered: (envelope: Envelope, sent: number) => void) {
  let pending: Array<{ data: Buffer, envelope: Envelope }> = []
  // Sockets added while frames were pending: how many of them were queued before the socket (or its presence read).
  let late = new Map<Connection, number>()
  let flushedAt = 0
  let timer: NodeJS.Timeout | undefined

  /** The pending frames, concatenated: one write per socket (less its own `except`s, and what predates it). */
  function flush (): void {
    if (pending.length === 0) return
    clearTimeout(timer)
    const frames = pending
    const before = late
    pending = []
    late = new Map()
    flushedAt = performance.now()
    const excepts = new Set<string>()
    for (const { envelope } of frames) if (envelope.except !== undefined) excepts.add(envelope.except)
    const all = frames.length === 1 ? frames[0].data : Buffer.concat(frames.map((p) => p.data))
    const sent = new Array<number>(frames.length).fill(0)
    for (const connection of connections) {
      if (unread.has(connection)) continue
      const from = before.get(connection) ?? 0
      let data = all
      if (from > 0 || excepts.has(connection.id)) {
        const mine: Buffer[] = []
        for (let i = from; i < frames.length; i++) if (frames[i].envelope.except !== connection.id) mine.push(frames[i].data)
        if (mine.length === 0) continue
        data = Buffer.concat(mine)
      }
      try {
        connection.send(data)
        for (let i = from; i < frames.length; i++) if (frames[i].envelope.except !== connection.id) sent[i]++
      } catch {}
    }
    frames.forEach(({ envelope }, i) => delivered(envelope, sent[i]))
  }

  return {
    /** Queues a frame; the first of a batch sets when it goes (end of turn, or the window's end). */
    add (data: Buffer, envelope: Envelope): void {
      if (pending.push({ data, envelope }) > 1) return
      const wait = flushedAt + COALESCE_WINDOW_MS - performance.now()
      if (wait <= 0) setImmediate(flush)
      else timer = setTimeout(flush, wait)
    },
    flush,
    /** The socket knows who is online as of now: the frames queued so far are not for it. */
    coveredFrom (connection: Connection): void {
      if (pending.length > 0) late.set(connection, pending.length)
    },
    forget (connection: Connection): void {
      late.delete(connection)
    },
    close (): void {
      clearTimeout(timer)
    }
  }
}

export type PresenceBatch = ReturnType<typeof createPresenceBatch>
