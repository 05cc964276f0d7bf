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

// A user_joined frame up to its varying fields, built once per profile object and kept:
// a storm of n joins into a room puts each user in up to n snapshots. The head is made
// from the profile's own room and user, and profiles are never changed in place (an
// update makes a new object), so a kept head is exact.
const joinedHeads = new WeakMap<Profile, string>()

/** A presence frame as wire JSON: the one spelling of snapshot, live user_joined and user_left. */
function presenceFrameJson (type: 'user_joined' | 'user_left', roomId: string, userId: string, profile: Profile | undefined,
  onlineCount: number, timestamp: string, snapshot: boolean): string {
  const keep = type === 'user_joined' && profile !== undefined
  let head = keep ? joinedHeads.get(profile) : undefined
  if (head === undefined) {
    head = JSON.stringify({ type, room_id: profile?.roomId ?? roomId, ...presenceMember(profile?.userId ?? userId, profile) }).slice(0, -1)
    if (keep) joinedHeads.set(profile, head)
  }
  return `${head},"online_count":${onlineCount},"timestamp":${JSON.stringify(timestamp)}${snapshot ? ',"snapshot":true' : ''}}`
}

/**
 * What a new socket is told of a user already online, as JSON: the older client shows
 * user_joined as a notification, the current one counts it; `snapshot` tells
 * Parley's own clients it is no live join.
 */
export function snapshotFrameJson (roomId: string, userId: string, profile: Profile | undefined, onlineCount: number, timestamp = new Date().toISOString()): string {
  return presenceFrameJson('user_joined', roomId, userId, profile, onlineCount, timestamp, true)
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
  const data = presenceFrameJson(event.type, event.roomId, event.userId, event.profile, event.onlineCount, new Date().toISOString(), false)
  // Coalesced: during a storm of joins each socket gets a window's frames in one write.
  await broker.publish(event.roomId, { data, except: event.connectionId, coalesce: true })
}
