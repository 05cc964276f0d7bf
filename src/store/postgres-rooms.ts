// Rooms on PostgreSQL: named rooms, their thumbnails and access, and the listing by activity.
import type pg from 'pg'
import { transaction } from './postgres-schema'
import { roomSummary, type Privacy, type RoomColumns, type RoomFilter, type RoomHost, type RoomStore } from './store'

const SELECT_ROOMS = (where: string, limit: string) => `
  SELECT r.room_id, r.name, r.thumbnail_url, r.created_at, r.category, r.description, r.tags, r.privacy, r.max_members,
         r.host, r.created_by, r.last_seq, r.last_message_at, r.member_count
    FROM rooms r
   ${where}
   ORDER BY COALESCE(r.last_message_at, r.created_at) DESC, r.room_id
   LIMIT ${limit}`
const SELECT_ROOMS_ALL = SELECT_ROOMS('', '$1')
const SELECT_ROOMS_OF = SELECT_ROOMS('WHERE r.category = $2', '$1')
// Rooms whose category is none of the list, or none at all ('' too).
const SELECT_ROOMS_OTHER = SELECT_ROOMS("WHERE r.category IS NULL OR r.category = '' OR r.category <> ALL ($2::text[])", '$1')

interface RoomRow extends RoomColumns {
  created_at: Date
  tags: string[] | null
  host: RoomHost | null
  last_seq: string
  last_message_at: Date | null
}

export function createPostgresRooms (pool: pg.Pool): Pick<RoomStore, 'createRoom' | 'listRooms' | 'roomAccess' | 'thumbnail'> {
  return {
    async createRoom (room) {
      const createdAt = new Date().toISOString()
      await transaction(pool, async (client) => {
        await client.query(
          `INSERT INTO rooms (room_id, created_at, name, thumbnail_url, category, description, tags, privacy, max_members, password_hash, host, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          [room.id, createdAt, room.name, room.thumbnailUrl, room.category, room.description, room.tags, room.privacy,
            room.maxMembers, room.passwordHash, room.host === null ? null : JSON.stringify(room.host), room.createdBy])
        if (room.thumbnail) {
          await client.query('INSERT INTO room_thumbnails (room_id, content_type, data) VALUES ($1, $2, $3)',
            [room.id, room.thumbnail.contentType, room.thumbnail.data])
        }
      })
      const { passwordHash, thumbnail, ...details } = room
      return { ...details, createdAt }
    },
    async listRooms (limit, filter?: RoomFilter) {
      const { rows } = filter === undefined
        ? await pool.query<RoomRow>(SELECT_ROOMS_ALL, [limit])
        : 'category' in filter
          ? await pool.query<RoomRow>(SELECT_ROOMS_OF, [limit, filter.category])
          : await pool.query<RoomRow>(SELECT_ROOMS_OTHER, [limit, [...filter.otherThan]])
      return rows.map((row) => roomSummary(row, {
        createdAt: row.created_at.toISOString(),
        tags: row.tags ?? [],
        host: row.host,
        lastSeq: Number(row.last_seq),
        lastMessageAt: row.last_message_at?.toISOString() ?? null
      }))
    },
    async roomAccess (roomId) {
      const { rows: [row] } = await pool.query<{ privacy: Privacy, password_hash: string | null }>(
        'SELECT privacy, password_hash FROM rooms WHERE room_id = $1', [roomId])
      return row && { privacy: row.privacy, passwordHash: row.password_hash }
    },
    async thumbnail (roomId) {
      const { rows: [row] } = await pool.query<{ content_type: string, data: Buffer }>(
        'SELECT content_type, data FROM room_thumbnails WHERE room_id = $1', [roomId])
      return row && { contentType: row.content_type, data: row.data }
    }
  }
}
