import type { Broker, BrokerListener, Envelope } from './broker'

/** A local socket, as the registry sees it. */
export interface Connection {
  id: string
  roomId: string
  userId: string
  send (data: Buffer): void
}

/**
 * Room → this instance's sockets. The registry subscribes to the broker for a room
 * while it holds at least one socket there, and delivers what the broker brings.
 */
export function createConnectionRegistry ({ broker }: { broker: Broker }) {
  const rooms = new Map<string, { connections: Set<Connection>, listener: BrokerListener, subscribed: Promise<void> }>()

  function deliver (roomId: string, envelope: Envelope): void {
    const room = rooms.get(roomId)
    if (!room) return
    // Encoded once per broadcast; ws writes the same buffer to every socket.
    const data = Buffer.from(envelope.data)
    for (const connection of room.connections) {
      if (connection.id === envelope.except) continue
      // One socket's failure must not cost the rest of the room its delivery.
      try {
        connection.send(data)
      } catch {}
    }
  }

  return {
    async add (connection: Connection): Promise<void> {
      const existing = rooms.get(connection.roomId)
      if (existing) {
        existing.connections.add(connection)
        // The room's subscription may still be on its way: this socket waits for it too.
        return existing.subscribed
      }
      const listener: BrokerListener = (envelope) => deliver(connection.roomId, envelope)
      const subscribed = broker.subscribe(connection.roomId, listener)
      const room = { connections: new Set([connection]), listener, subscribed }
      rooms.set(connection.roomId, room)
      try {
        await subscribed
      } catch (err) {
        if (rooms.get(connection.roomId) === room) rooms.delete(connection.roomId)
        throw err
      }
    },

    async remove (connection: Connection): Promise<void> {
      const room = rooms.get(connection.roomId)
      if (!room || !room.connections.delete(connection)) return
      if (room.connections.size > 0) return
      rooms.delete(connection.roomId)
      await broker.unsubscribe(connection.roomId, room.listener)
    },

    /** Local sockets in a room, for presence and limits. */
    connections (roomId: string): ReadonlySet<Connection> {
      return rooms.get(roomId)?.connections ?? new Set()
    },

    get roomCount (): number {
      return rooms.size
    },

    get connectionCount (): number {
      let count = 0
      for (const room of rooms.values()) count += room.connections.size
      return count
    }
  }
}

export type ConnectionRegistry = ReturnType<typeof createConnectionRegistry>
