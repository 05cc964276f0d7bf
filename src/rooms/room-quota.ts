// A cap on the rooms one client address brings into being per window.
import { ChatError } from '../chat/errors'
import type { BucketFactory } from '../access/buckets'

export interface RoomQuotaOptions {
  /** Whether a room exists (in the store, made by anyone on any instance). */
  exists (roomId: string): Promise<boolean>
  /** New rooms per address per window (refilled evenly over it). */
  perAddress: number
  windowMs: number
  /** The buckets: the deployment's (every instance's, with Redis) or this instance's. */
  buckets: BucketFactory
}

// Bounded: past this, the oldest are forgotten.
const MAX_KNOWN_ROOMS = 100_000

/**
 * A room is made by a join, a message, a socket or POST /rooms for an id never seen,
 * and each one is a row kept for good: in open mode nothing else bounds them. Rooms
 * known to exist cost a Set lookup; an unknown id costs one store read, then a token
 * from its address's bucket if it really is new.
 */
export function createRoomQuota ({ exists, perAddress, windowMs, buckets }: RoomQuotaOptions) {
  const known = new Set<string>()
  const addresses = buckets('new-rooms', { burst: perAddress, windowMs })

  function remember (roomId: string): void {
    if (known.size >= MAX_KNOWN_ROOMS) known.delete(known.values().next().value as string)
    known.add(roomId)
  }

  return {
    /** Whether `address` may use `roomId` now: an existing room always, a new one within its quota. */
    async allows (roomId: string, address: string): Promise<boolean> {
      if (known.has(roomId)) return true
      if (await exists(roomId)) {
        remember(roomId)
        return true
      }
      if (!await addresses.take(address)) return false
      remember(roomId)
      return true
    }
  }
}

export type RoomQuota = ReturnType<typeof createRoomQuota>

/** The 429 of a new room past the quota. */
export function tooManyRooms (limit: number, windowMs: number): ChatError {
  return new ChatError('too_many_rooms', `at most ${limit} new rooms per ${Math.round(windowMs / 60_000)} min from one address; use an existing room or retry later`, 429)
}
