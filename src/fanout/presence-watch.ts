// What the room's presence frames said while sockets built their snapshots (see the registry's presenceRead).
import type { PresenceMember } from './presence'

// A snapshot being built keeps at most this many of the room's changes; past it they are unknown.
const MAX_CHANGES = 10_000

/** A user who came online (`joined`, with the name and avatar their frame gave) or went, as a presence frame said. */
export type PresenceChange =
  | { userId: string, joined: true, member: PresenceMember }
  | { userId: string, joined: false }

/** What a socket building its snapshot hears of the room meanwhile. */
export interface PresenceWatch {
  /**
   * The changes since the read, in order, less the first `skip` (a caller that has
   * them already); undefined when they cannot be known (too many, or a frame not understood).
   */
  changes (skip?: number): PresenceChange[] | undefined
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
      let frame: { type?: unknown, user_id?: unknown, username?: unknown, avatar?: unknown } | undefined
      try {
        frame = JSON.parse(data)
      } catch {}
      const type = frame?.type
      const userId = frame?.user_id
      if (changes.length >= MAX_CHANGES || typeof userId !== 'string' || (type !== 'user_joined' && type !== 'user_left')) {
        changes = null
        return
      }
      if (type === 'user_left') {
        changes.push({ userId, joined: false })
        return
      }
      const { username, avatar } = frame as { username?: unknown, avatar?: unknown }
      if (typeof username !== 'string' || (typeof avatar !== 'string' && avatar !== null)) {
        changes = null
        return
      }
      changes.push({ userId, joined: true, member: { user_id: userId, username, avatar, avatar_url: avatar } })
    },
    /** The changes from now on, until `end`. */
    watch (): PresenceWatch {
      if (watchers++ === 0) changes = []
      const from = changes?.length ?? 0
      let ended = false
      return {
        changes: (skip = 0) => (ended ? [] : changes?.slice(from + skip)),
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
