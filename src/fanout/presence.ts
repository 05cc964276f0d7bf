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

/**
 * What a new socket is told of a user already online: the older client shows
 * user_joined as a notification, the current one counts it; `snapshot` tells
 * Parley's own clients it is no live join.
 */
export function snapshotFrame (roomId: string, userId: string, profile: Profile | undefined, onlineCount: number, timestamp = new Date().toISOString()) {
  return {
    type: 'user_joined',
    room_id: roomId,
    ...presenceMember(userId, profile),
    online_count: onlineCount,
    timestamp,
    snapshot: true
  }
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
