// SQLite room profiles: a bounded cache kept exact (this process is the file's only writer), and their upsert.
import type Database from 'better-sqlite3'
import { mergeProfile, profileFromRow, sameProfile, type Profile, type ProfileMode, type ProfileRow, type ProfileValues } from './store'

const PROFILE_CACHE = 10_000

/**
 * Profiles are read for every message and every connect's snapshot (each user online
 * in the room): a bounded cache, kept exact because this process is the file's only
 * writer (upsertInBatch refreshes it). Room → user → profile: a lookup hashes the ids
 * the caller holds, not a key built per call. `changed` is told of a room whose
 * profiles changed (its pages fill their avatars from them).
 */
export function createSqliteProfiles (db: Database.Database, changed: (roomId: string) => void) {
  // A new member: the room row made (with one member) or counted up, in one statement.
  const countMember = db.prepare(
    'INSERT INTO rooms (room_id, created_at, member_count) VALUES (?, ?, 1) ON CONFLICT (room_id) DO UPDATE SET member_count = member_count + 1')
  const selectMembers = db.prepare<[string, number], ProfileRow>(
    'SELECT room_id, user_id, username, avatar_url, joined_at FROM profiles WHERE room_id = ? ORDER BY joined_at, user_id LIMIT ?'
  )
  const selectProfile = db.prepare<[string, string], ProfileRow>(
    'SELECT room_id, user_id, username, avatar_url, joined_at FROM profiles WHERE room_id = ? AND user_id = ?'
  )
  const upsertProfileRow = db.prepare(
    `INSERT INTO profiles (room_id, user_id, username, avatar_url, joined_at)
     VALUES (@room_id, @user_id, @username, @avatar_url, @joined_at)
     ON CONFLICT (room_id, user_id) DO UPDATE SET username = excluded.username, avatar_url = excluded.avatar_url`
  )

  const profiles = new Map<string, Map<string, Profile | null>>()
  let profileCount = 0
  function forget (): void {
    profiles.clear()
    profileCount = 0
  }
  function remember (roomId: string, userId: string, profile: Profile | null): void {
    if (profileCount >= PROFILE_CACHE) forget()
    let room = profiles.get(roomId)
    if (room === undefined) profiles.set(roomId, room = new Map())
    const size = room.size
    room.set(userId, profile)
    profileCount += room.size - size
  }

  function profileOf (roomId: string, userId: string): Profile | undefined {
    const cached = profiles.get(roomId)?.get(userId)
    if (cached !== undefined) return cached ?? undefined
    const row = selectProfile.get(roomId, userId)
    const profile = row ? profileFromRow(row) : null
    remember(roomId, userId, profile)
    return profile ?? undefined
  }

  return {
    profileOf,
    /** The cache starts over: a rolled-back batch, or a user's new name or avatar rewriting their profiles. */
    forget,
    members (roomId: string, limit: number): Profile[] {
      return selectMembers.all(roomId, limit).map(profileFromRow)
    },
    /** Run inside the group commit: a burst of connects (a deploy) shares commits. */
    upsertInBatch (roomId: string, userId: string, values: ProfileValues, mode: ProfileMode) {
      const now = new Date().toISOString()
      // The cache is exact and kept inside the batch: a second upsert of the same
      // profile in one commit sees the first.
      const current = profileOf(roomId, userId)
      const merged = mergeProfile(current, values, mode)
      const profile: Profile = { roomId, userId, ...merged, joinedAt: current?.joinedAt ?? now }
      // A stored profile's room row exists: neither rooms nor profiles are ever deleted.
      if (!current) countMember.run(roomId, now)
      if (!current || !sameProfile(current, profile)) {
        changed(roomId)
        upsertProfileRow.run({
          room_id: roomId,
          user_id: userId,
          username: profile.username,
          avatar_url: profile.avatarUrl,
          joined_at: profile.joinedAt
        })
        remember(roomId, userId, profile)
      }
      return { profile, created: !current }
    }
  }
}
