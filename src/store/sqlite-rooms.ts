// Rooms on SQLite: named rooms, their thumbnails and access, and the listing by activity.
import type Database from 'better-sqlite3'
import { roomSummary, type Privacy, type RoomColumns, type RoomStore } from './store'

interface RoomRow extends RoomColumns {
  created_at: string
  tags: string | null
  host: string | null
  last_seq: number
  last_message_at: string | null
}

/**
 * The listing: the room rows alone. Their activity (last seq, last message time,
 * member count) is kept on the row by the append and the join, and the order is the
 * rooms_activity index, so a page of rooms costs its LIMIT, not the number of rooms.
 */
export function roomsQuery (where: string): string {
  return `SELECT room_id, name, thumbnail_url, created_at, category, description, tags, privacy, max_members, host, created_by,
                 last_seq, last_message_at, member_count
            FROM rooms ${where}
           ORDER BY COALESCE(last_message_at, created_at) DESC, room_id
           LIMIT ?`
}

export function createSqliteRooms (db: Database.Database): Pick<RoomStore, 'createRoom' | 'listRooms' | 'roomAccess' | 'thumbnail'> {
  const insertRoom = db.prepare(`INSERT INTO rooms (room_id, created_at, name, thumbnail_url, category, description, tags, privacy, max_members, password_hash, host, created_by)
    VALUES (@room_id, @created_at, @name, @thumbnail_url, @category, @description, @tags, @privacy, @max_members, @password_hash, @host, @created_by)`)
  const insertThumbnail = db.prepare('INSERT INTO room_thumbnails (room_id, content_type, data) VALUES (?, ?, ?)')
  const selectThumbnail = db.prepare<[string], { content_type: string, data: Buffer }>('SELECT content_type, data FROM room_thumbnails WHERE room_id = ?')
  const selectAccess = db.prepare<[string], { privacy: Privacy, password_hash: string | null }>('SELECT privacy, password_hash FROM rooms WHERE room_id = ?')
  const selectRooms = db.prepare<[number], RoomRow>(roomsQuery(''))
  const selectRoomsOf = db.prepare<[string, number], RoomRow>(roomsQuery('WHERE category = ?'))
  const selectRoomsOther = db.prepare<[string, number], RoomRow>(roomsQuery("WHERE category IS NULL OR category = '' OR category NOT IN (SELECT value FROM json_each(?))"))

  return {
    async createRoom (room) {
      const createdAt = new Date().toISOString()
      db.transaction(() => {
        insertRoom.run({
          room_id: room.id,
          created_at: createdAt,
          name: room.name,
          thumbnail_url: room.thumbnailUrl,
          category: room.category,
          description: room.description,
          tags: JSON.stringify(room.tags),
          privacy: room.privacy,
          max_members: room.maxMembers,
          password_hash: room.passwordHash,
          host: room.host === null ? null : JSON.stringify(room.host),
          created_by: room.createdBy
        })
        if (room.thumbnail) insertThumbnail.run(room.id, room.thumbnail.contentType, room.thumbnail.data)
      })()
      const { passwordHash, thumbnail, ...details } = room
      return { ...details, createdAt }
    },
    async listRooms (limit, filter) {
      const rows = filter === undefined
        ? selectRooms.all(limit)
        : 'category' in filter ? selectRoomsOf.all(filter.category, limit) : selectRoomsOther.all(JSON.stringify(filter.otherThan), limit)
      return rows.map((row) => roomSummary(row, {
        createdAt: row.created_at,
        tags: row.tags === null ? [] : JSON.parse(row.tags),
        host: row.host === null ? null : JSON.parse(row.host),
        lastSeq: row.last_seq,
        lastMessageAt: row.last_message_at
      }))
    },
    async roomAccess (roomId) {
      const row = selectAccess.get(roomId)
      return row && { privacy: row.privacy, passwordHash: row.password_hash }
    },
    async thumbnail (roomId) {
      const row = selectThumbnail.get(roomId)
      return row && { contentType: row.content_type, data: row.data }
    }
  }
}
