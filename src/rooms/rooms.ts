// Rooms on the wire, as the room list of both client versions reads them.
import type { Static } from '@sinclair/typebox'
import type { RoomWireSchema } from '../schemas/rooms'
import type { RoomSummary } from '../store/store'

/**
 * `memberCount` and `onlineCount` are the current client's viewer pill (it reads
 * memberCount first), so both are who is online now; `member_count` keeps its
 * meaning, everyone who ever joined. A thumbnail Parley keeps is made absolute with
 * `origin`: the client shows it from another origin.
 */
export function roomWire (room: RoomSummary, online: number, origin: string): Static<typeof RoomWireSchema> {
  const thumbnail = room.thumbnailUrl?.startsWith('/') ? `${origin}${room.thumbnailUrl}` : room.thumbnailUrl
  return {
    id: room.id,
    name: room.name ?? room.id,
    created_at: room.createdAt,
    thumbnail_url: thumbnail,
    category: room.category,
    description: room.description,
    tags: room.tags,
    privacy: room.privacy,
    maxMembers: room.maxMembers,
    max_members: room.maxMembers,
    host: room.host,
    created_by: room.createdBy,
    memberCount: online,
    onlineCount: online,
    member_count: room.memberCount,
    online_count: online,
    last_seq: room.lastSeq,
    last_message_at: room.lastMessageAt
  }
}
