// Who is online in a room: the contract, and the local tracker; Redis's is in redis-presence.ts.

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
 * One instance: online means announced. A user is online from their first socket's
 * user_joined (enter, at the end of its registration) until their last socket's
 * user_left (leave), as with Redis: a socket still registering is in the registry but
 * not yet online, so a snapshot read meanwhile does not name a user whose live
 * user_joined is still to come (they would be told of them twice). enter and leave
 * are only called on a user's first and last local socket, so they are always a change.
 * The sets hold the users with an open socket, and go with their last one.
 */
export function createLocalPresence (): PresenceTracker {
  const rooms = new Map<string, Set<string>>()
  return {
    shared: false,
    async enter (roomId, userId) {
      let users = rooms.get(roomId)
      if (users === undefined) rooms.set(roomId, users = new Set())
      users.add(userId)
      return true
    },
    async leave (roomId, userId) {
      const users = rooms.get(roomId)
      users?.delete(userId)
      if (users?.size === 0) rooms.delete(roomId)
      return true
    },
    async online (roomId) {
      return [...(rooms.get(roomId) ?? [])]
    },
    async close () {}
  }
}
