// user_joined / user_left frames: what a presence change looks like on the wire.
import type { Broker } from './broker'
import { displayName } from '../chat/text'
import type { Profile } from '../store/store'

export interface PresenceMember {
  user_id: string
  username: string
  avatar: string | null
  avatar_url: string | null
}

export function presenceMember (userId: string, profile: Profile | undefined): PresenceMember {
  const avatar = profile?.avatarUrl ?? null
  return { user_id: userId, username: displayName(profile?.username), avatar, avatar_url: avatar }
}

// A profile's snapshot frame up to its varying fields, built once per profile object:
// a storm of n joins into a room puts each user in up to n snapshots. Profiles are
// never changed in place (an update makes a new object), so a kept head is exact.
const heads = new WeakMap<Profile, string>()

function snapshotHead (roomId: string, userId: string, profile: Profile | undefined): string {
  const kept = profile && heads.get(profile)
  if (kept !== undefined) return kept
  const head = JSON.stringify({ type: 'user_joined', room_id: roomId, ...presenceMember(userId, profile) }).slice(0, -1)
  if (profile) heads.set(profile, head)
  return head
}

/**
 * What a new socket is told of a user already online, as JSON: the older client shows
 * user_joined as a notification, the current one counts it; `snapshot` tells
 * Parley's own clients it is no live join.
 */
export function snapshotFrameJson (roomId: string, userId: string, profile: Profile | undefined, onlineCount: number, timestamp = new Date().toISOString()): string {
  return `${snapshotHead(roomId, userId, profile)},"online_count":${onlineCount},"timestamp":${JSON.stringify(timestamp)},"snapshot":true}`
}

/**
 * `user_joined` when a user's first socket in the room opens, `user_left` when the
 * last one closes (two tabs are one user). The older client knows both frames.
 */
export async function publishPresence (broker: Broker, event: {
  type: 'user_joined' | 'user_left'
  roomId: string
  userId: string
  profile: Profile | undefined
  onlineCount: number
  connectionId: string
}): Promise<void> {
  const frame = {
    type: event.type,
    room_id: event.roomId,
    ...presenceMember(event.userId, event.profile),
    online_count: event.onlineCount,
    timestamp: new Date().toISOString()
  }
  // Coalesced: during a storm of joins each socket gets a window's frames in one write.
  await broker.publish(event.roomId, { data: JSON.stringify(frame), except: event.connectionId, coalesce: true })
}
