// Who is online in a room: the contract, and the local tracker (from the registry); Redis's is in redis-presence.ts.

/**
 * Who is online in a room, across instances. An instance calls enter when a user's
 * first local socket in a room opens and leave when the last one closes.
 */
export interface PresenceTracker {
  /** Resolves true when the user was not online on any instance before. */
  enter (roomId: string, userId: string): Promise<boolean>
  /** Resolves true when the user is now online on no instance. */
  leave (roomId: string, userId: string): Promise<boolean>
  online (roomId: string): Promise<string[]>
  /** Whether other instances see this presence (Redis): their sockets must hear of a leave even on shutdown. */
  readonly shared: boolean
  close (): Promise<void>
}

/**
 * One instance: online means a local socket, which the connection registry already
 * counts. enter and leave are only called on a user's first and last local socket,
 * so on one instance they are always a change.
 */
export function createLocalPresence (registry: { onlineUsers (roomId: string): string[] }): PresenceTracker {
  return {
    shared: false,
    async enter () {
      return true
    },
    async leave () {
      return true
    },
    async online (roomId) {
      return registry.onlineUsers(roomId)
    },
    async close () {}
  }
}
