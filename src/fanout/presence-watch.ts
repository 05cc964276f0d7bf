// What the room's presence frames said while sockets built their snapshots (see the registry's presenceRead).

// A snapshot being built keeps at most this many of the room's changes; past it they are unknown.
const MAX_CHANGES = 10_000

/** A user who came online (`joined`) or went, as a presence frame said. */
export interface PresenceChange {
  userId: string
  joined: boolean
}

/** What a socket building its snapshot hears of the room meanwhile. */
export interface PresenceWatch {
  /** The changes since the read, in order; undefined when they cannot be known (too many, or a frame not understood). */
  changes (): PresenceChange[] | undefined
  end (): void
}

/** One room's log of presence changes, kept only while a watch is open. */
export function createPresenceLog () {
  let watchers = 0
  // null once unknown, until every watch has ended.
  let changes: PresenceChange[] | null = []
  return {
    /** Whether a frame needs noting (a watch is open). */
    get watched (): boolean {
      return watchers > 0
    },
    /** A presence frame's JSON, as a change in who is online. */
    note (data: string): void {
      if (changes === null) return
      let frame: { type?: unknown, user_id?: unknown } | undefined
      try {
        frame = JSON.parse(data)
      } catch {}
      const type = frame?.type
      if (changes.length >= MAX_CHANGES || typeof frame?.user_id !== 'string' || (type !== 'user_joined' && type !== 'user_left')) {
        changes = null
        return
      }
      changes.push({ userId: frame.user_id, joined: type === 'user_joined' })
    },
    /** The changes from now on, until `end`. */
    watch (): PresenceWatch {
      if (watchers++ === 0) changes = []
      const from = changes?.length ?? 0
      let ended = false
      return {
        changes: () => (ended ? [] : changes?.slice(from)),
        end () {
          if (ended) return
          ended = true
          if (--watchers === 0) changes = []
        }
      }
    }
  }
}

export type PresenceLog = ReturnType<typeof createPresenceLog>
