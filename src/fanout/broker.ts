// The broker interface, and the in-process broker of a single instance.
/** What travels between instances: a frame serialized once, and a connection not to deliver it to. */
export interface Envelope {
  data: string
  except?: string
  /** Set for chat messages: lets a recovering socket drop what its replay already sent. */
  seq?: number
  /** Set for direct messages: a socket sends each key once (a live push and an offline one may cross). */
  key?: string
  /** Presence: each receiving registry may hold it briefly and send it with others (Redis carries it too). */
  coalesce?: boolean
}

export type BrokerListener = (envelope: Envelope) => void

/** Fan-out of a room's frames to every instance that has sockets in the room. */
export interface Broker {
  publish (roomId: string, envelope: Envelope): Promise<void>
  subscribe (roomId: string, listener: BrokerListener): Promise<void>
  unsubscribe (roomId: string, listener: BrokerListener): Promise<void>
  /** Rejects when the broker cannot deliver to other instances: the readiness check. */
  ping (): Promise<void>
  close (): Promise<void>
}

/** One instance: publishing is a direct call to the room's listeners. */
export function createInProcessBroker (): Broker & { listenerCount (roomId: string): number } {
  const rooms = new Map<string, Set<BrokerListener>>()
  return {
    async publish (roomId, envelope) {
      const listeners = rooms.get(roomId)
      if (!listeners) return
      for (const listener of listeners) listener(envelope)
    },
    async subscribe (roomId, listener) {
      let listeners = rooms.get(roomId)
      if (!listeners) {
        listeners = new Set()
        rooms.set(roomId, listeners)
      }
      listeners.add(listener)
    },
    async unsubscribe (roomId, listener) {
      const listeners = rooms.get(roomId)
      if (!listeners) return
      listeners.delete(listener)
      if (listeners.size === 0) rooms.delete(roomId)
    },
    /** For a broker built on this one (Redis): whether a room still has listeners here. */
    listenerCount (roomId) {
      return rooms.get(roomId)?.size ?? 0
    },
    async ping () {},
    async close () {
      rooms.clear()
    }
  }
}
