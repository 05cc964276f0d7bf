// Room → this instance's sockets: the one broadcast path to local connections.
import type { Broker, Envelope } from './broker'
import { openLocalRoom, type LocalRoom } from './local-room'
import type { Metrics } from '../ops/metrics'
import type { PresenceWatch } from './presence-watch'
import type { History } from './room-sequencer'

/** A local socket, as the registry sees it. */
export interface Connection {
  id: string
  roomId: string
  userId: string
  /** The client's address, for the per-address socket cap. */
  address: string
  /** `data` is the broadcast as the registry's `encode` made it; `seq` is set for chat messages (see Envelope). */
  send (data: Buffer, seq?: number, key?: string): void
  close (code: number, reason: string): void
}

/**
 * Room → this instance's sockets. The registry subscribes to the broker for a room
 * while it holds at least one socket there, and delivers what the broker brings.
 */
export function createConnectionRegistry ({ broker, history, sequenced = () => true, onError = () => {}, metrics, encode = utf8, coalesce = false }: {
  broker: Broker
  /** Turns a broadcast's text into the bytes every connection sends: once per broadcast. */
  encode?: (text: string) => Buffer
  /**
   * `encode` makes whole wire frames, so several may go in one write: a room's
   * presence frames (envelopes marked `coalesce`) are sent together, at the end of the
   * turn or of its window (presence-batch.ts), one write per socket. A storm of n joins into a
   * room is O(n²) frames; this bounds the writes to the room's sockets per window.
   * Any other frame sends what is pending first, so the order on a socket holds.
   */
  coalesce?: boolean
  /** With it, chat messages reach the room in seq order, gaps read from the store. */
  history?: History
  /** Which rooms carry seq-ordered chat messages (the sequencer's work); default all. */
  sequenced?: (roomId: string) => boolean
  onError?: (err: unknown) => void
  metrics?: Pick<Metrics, 'delivered' | 'connectionOpened' | 'countConnections'>
}) {
  const rooms = new Map<string, LocalRoom>()
  const addresses = new Map<string, number>()
  let count = 0
  let drained: Array<() => void> = []
  let closing = false
  const cleanups = new Set<Promise<unknown>>()
  metrics?.countConnections(() => ({ connections: count, rooms: rooms.size }))

  function deliver (roomId: string, envelope: Envelope): void {
    const room = rooms.get(roomId)
    if (!room) return
    if (envelope.coalesce === true && room.presence.watched) room.presence.note(envelope.data)
    // Encoded once per broadcast; every socket writes the same bytes.
    const data = encode(envelope.data)
    if (coalesce && envelope.coalesce === true && envelope.seq === undefined && envelope.key === undefined) {
      room.batch.add(data, envelope)
      return
    }
    // What was queued before this frame goes first: a socket sees the room's frames in order.
    room.batch.flush()
    const { except } = envelope
    let sent = 0
    const presence = envelope.coalesce === true
    for (const connection of room.connections) {
      if (except !== undefined && connection.id === except) continue
      if (presence && room.unread.has(connection)) continue
      // One socket's failure must not cost the rest of the room its delivery.
      try {
        connection.send(data, envelope.seq, envelope.key)
        sent++
      } catch {}
    }
    metrics?.delivered(envelope, sent)
  }

  function track (connection: Connection, delta: 1 | -1, room?: LocalRoom): void {
    count += delta
    if (room) {
      const sockets = (room.users.get(connection.userId) ?? 0) + delta
      if (sockets > 0) room.users.set(connection.userId, sockets)
      else room.users.delete(connection.userId)
    }
    const n = (addresses.get(connection.address) ?? 0) + delta
    if (n > 0) addresses.set(connection.address, n)
    else addresses.delete(connection.address)
    if (count === 0) {
      for (const resolve of drained) resolve()
      drained = []
    }
  }

  return {
    /**
     * `snapshotLater`: the socket reads who is online after this (its snapshot), and
     * calls presenceRead just before: until then presence frames skip it, as that read
     * covers them (a user_joined sent meanwhile would reach it twice, live and in the
     * snapshot).
     */
    async add (connection: Connection, snapshotLater = false): Promise<void> {
      metrics?.connectionOpened()
      const existing = rooms.get(connection.roomId)
      if (existing) {
        track(connection, 1, existing)
        existing.connections.add(connection)
        // Frames queued before its presence read are not for it (its snapshot covers them).
        if (snapshotLater) existing.unread.add(connection)
        else existing.batch.coveredFrom(connection)
        // The room's subscription may still be on its way: this socket waits for it too.
        return existing.subscribed
      }
      const { roomId } = connection
      const room = openLocalRoom({
        roomId,
        first: connection,
        snapshotLater,
        broker,
        history: history !== undefined && sequenced(roomId) ? history : undefined,
        onError,
        deliver: (envelope) => deliver(roomId, envelope),
        delivered: (envelope, sent) => metrics?.delivered(envelope, sent)
      })
      track(connection, 1, room)
      rooms.set(roomId, room)
      try {
        await room.subscribed
      } catch (err) {
        if (rooms.get(roomId) === room) {
          rooms.delete(roomId)
          room.close()
          for (const c of room.connections) track(c, -1, room)
        }
        throw err
      }
    },

    /**
     * The socket reads who is online now (see add): presence frames from here on reach
     * it, those queued before do not. Its read (Redis, or the local tracker) may already
     * count a user whose frame is still to come, and be out of date by the time the
     * snapshot goes out: the watch says what the room heard from the read on, until `end`.
     */
    presenceRead (connection: Connection): PresenceWatch {
      const room = rooms.get(connection.roomId)
      if (room === undefined) return { changes: () => [], end () {} }
      if (room.unread.delete(connection)) room.batch.coveredFrom(connection)
      return room.presence.watch()
    },

    async remove (connection: Connection): Promise<void> {
      const room = rooms.get(connection.roomId)
      if (!room || !room.connections.delete(connection)) return
      room.batch.forget(connection)
      room.unread.delete(connection)
      track(connection, -1, room)
      if (room.connections.size > 0) return
      rooms.delete(connection.roomId)
      room.close()
      await broker.unsubscribe(connection.roomId, room.listener)
    },

    /** Local sockets in a room, for presence and limits. */
    connections (roomId: string): ReadonlySet<Connection> {
      return rooms.get(roomId)?.connections ?? new Set()
    },

    /** How many local sockets a user has in a room. */
    socketsOf (roomId: string, userId: string): number {
      return rooms.get(roomId)?.users.get(userId) ?? 0
    },

    /** The users with at least one local socket in a room. */
    onlineUsers (roomId: string): string[] {
      return [...(rooms.get(roomId)?.users.keys() ?? [])]
    },

    /** Local sockets from one client address. */
    countFrom (address: string): number {
      return addresses.get(address) ?? 0
    },

    get roomCount (): number {
      return rooms.size
    },

    get connectionCount (): number {
      return count
    },

    /** Work a closing connection still does after its removal (presence): drained() waits for it. */
    settle (work: Promise<unknown>): void {
      cleanups.add(work)
      work.finally(() => cleanups.delete(work)).catch(() => {})
    },

    /** True once drained() was called: the instance is shutting down. */
    get closing (): boolean {
      return closing
    },

    /** Resolves once every connection has been removed and its cleanup settled (the shutdown's wait). */
    async drained (): Promise<void> {
      closing = true
      if (count > 0) await new Promise<void>((resolve) => drained.push(resolve))
      while (cleanups.size > 0) await Promise.allSettled([...cleanups])
    }
  }
}

function utf8 (text: string): Buffer {
  return Buffer.from(text)
}

export type ConnectionRegistry = ReturnType<typeof createConnectionRegistry>
