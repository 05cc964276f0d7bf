// The RoomStore contract every store implements, and the rules every store shares.
import type { Message } from '../schemas/http'
import type { DirectMessageStore } from './direct-store'
import type { UserStore } from './user-store'

export interface Profile {
  roomId: string
  userId: string
  username: string | null
  avatarUrl: string | null
  joinedAt: string
}

/** A profiles row, as either store reads it (PostgreSQL gives joined_at as a Date). */
export interface ProfileRow {
  room_id: string
  user_id: string
  username: string | null
  avatar_url: string | null
  joined_at: string | Date
}

export function profileFromRow (row: ProfileRow): Profile {
  return {
    roomId: row.room_id,
    userId: row.user_id,
    username: row.username,
    avatarUrl: row.avatar_url,
    joinedAt: typeof row.joined_at === 'string' ? row.joined_at : row.joined_at.toISOString()
  }
}

export interface ProfileValues {
  username?: string | null
  avatarUrl?: string | null
}

/**
 * `set` (an explicit join): every non-empty value replaces the stored one.
 * `fill` (a socket's query): values only fill what the profile is missing.
 * Missing or empty values never overwrite anything (identity across reconnects: a reconnecting client sends empty or placeholder values).
 */
export type ProfileMode = 'set' | 'fill'

export interface NewMessage {
  roomId: string
  userId: string
  /** Null: the sender's profile name (or the default name), resolved by the store as it writes: no read per message. */
  username: string | null
  /** Null: the sender's profile avatar, if it has one, likewise. */
  avatar: string | null
  content: string
  /** The sender's own id for the message; with appendOnce, a retry yields the stored one. */
  clientId?: string
}

/** A page of history by seq cursor: `afterSeq` reads forward from it, else backward from `beforeSeq` (or the end). */
export interface PageQuery {
  limit: number
  beforeSeq?: number
  afterSeq?: number
}

export type Privacy = 'public' | 'private' | 'password'

/** Who created a room, as the client shows it. */
export interface RoomHost {
  id: string
  username: string
  avatar_url?: string | null
  avatar_urls?: Record<string, string> | null
}

export interface Room {
  id: string
  name: string | null
  /** An http(s) URL, or Parley's own path for an uploaded image (`/rooms/<id>/thumbnail?v=…`). */
  thumbnailUrl: string | null
  createdAt: string
  category: string | null
  description: string | null
  tags: string[]
  privacy: Privacy
  maxMembers: number | null
  host: RoomHost | null
  createdBy: string | null
}

export interface NewRoom extends Omit<Room, 'createdAt'> {
  /** Scrypt hash of a password room's password. */
  passwordHash: string | null
  /** An uploaded image, kept by the store and served by Parley. */
  thumbnail: Thumbnail | null
}

export interface Thumbnail {
  contentType: string
  data: Buffer
}

/** `category` lists one; `otherThan` lists rooms whose category is none of these (or none at all). */
export type RoomFilter = { category: string } | { otherThan: readonly string[] }

export interface RoomSummary extends Room {
  memberCount: number
  lastSeq: number
  lastMessageAt: string | null
}

/** The rooms columns both stores read as they are; the rest each converts from its own types. */
export interface RoomColumns {
  room_id: string
  name: string | null
  thumbnail_url: string | null
  category: string | null
  description: string | null
  privacy: Privacy
  max_members: number | null
  created_by: string | null
  member_count: number
}

/** A listing's room from its row: the plain columns, and those the store converted (dates, arrays, JSON). */
export function roomSummary (row: RoomColumns, converted: Pick<RoomSummary, 'createdAt' | 'tags' | 'host' | 'lastSeq' | 'lastMessageAt'>): RoomSummary {
  return {
    id: row.room_id,
    name: row.name,
    thumbnailUrl: row.thumbnail_url,
    createdAt: converted.createdAt,
    category: row.category,
    description: row.description,
    tags: converted.tags,
    privacy: row.privacy,
    maxMembers: row.max_members,
    host: converted.host,
    createdBy: row.created_by,
    memberCount: row.member_count,
    lastSeq: converted.lastSeq,
    lastMessageAt: converted.lastMessageAt
  }
}

export interface RoomStore {
  upsertProfile (roomId: string, userId: string, values: ProfileValues, mode: ProfileMode): Promise<{ profile: Profile, created: boolean }>
  getProfile (roomId: string, userId: string): Promise<Profile | undefined>
  /** Several users' profiles in one room, in the order asked (undefined for none): one read, not one per user. */
  getProfiles (roomId: string, userIds: readonly string[]): Promise<Array<Profile | undefined>>
  /** A room's members (profiles), oldest first, at most `limit`. */
  members (roomId: string, limit: number): Promise<Profile[]>
  /** Creates a named room; a room with that id already there is an error. */
  createRoom (room: NewRoom): Promise<Room>
  /** Rooms, most recently active first. */
  listRooms (limit: number, filter?: RoomFilter): Promise<RoomSummary[]>
  /** A room's privacy and password hash, for verify-password; undefined for a room never seen. */
  roomAccess (roomId: string): Promise<{ privacy: Privacy, passwordHash: string | null } | undefined>
  /** A room's uploaded thumbnail. */
  thumbnail (roomId: string): Promise<Thumbnail | undefined>
  /** Assigns id, seq and timestamp; resolves once the message is durable. */
  append (message: NewMessage): Promise<Message>
  /**
   * Like append, but the same clientId from the same user in the same room yields
   * the message already stored (created: false) instead of a second one.
   */
  appendOnce (message: NewMessage & { clientId: string }): Promise<{ message: Message, created: boolean }>
  /** The newest `limit` messages, oldest first; avatars missing at write time come from the profile. */
  latest (roomId: string, limit: number): Promise<Message[]>
  /** A page by seq cursor, oldest first. Reads an index range, whatever the history's size. */
  page (roomId: string, query: PageQuery): Promise<Message[]>
  /**
   * The same page, each message as its wire JSON: the text stored with it at append time,
   * with the avatar filled from the profile where `page` fills it. Nothing is parsed or built.
   * A room's newest page may be served from a cache until the room changes: do not modify it.
   */
  pageJson (roomId: string, query: PageQuery): Promise<readonly string[]>
  /** The seq of a message of the room, by id. */
  seqOf (roomId: string, messageId: string): Promise<number | undefined>
  /** The room's last assigned seq; 0 for a room never written. */
  lastSeq (roomId: string): Promise<number>
  ping (): Promise<void>
  close (): Promise<void>
}

/** Everything a store keeps. */
export type Store = RoomStore & UserStore & DirectMessageStore

/** Whether a merge leaves a stored profile as it was (no write, no cache change). */
export function sameProfile (current: Profile, merged: { username: string | null, avatarUrl: string | null }): boolean {
  return current.username === merged.username && current.avatarUrl === merged.avatarUrl
}

/** Applies a ProfileMode: the one place the identity rule lives, shared by every store. */
export function mergeProfile (current: ProfileValues | undefined, values: ProfileValues, mode: ProfileMode): { username: string | null, avatarUrl: string | null } {
  const pick = (stored: string | null | undefined, incoming: string | null | undefined) => {
    const hasIncoming = typeof incoming === 'string' && incoming !== ''
    if (!hasIncoming) return stored ?? null
    if (mode === 'fill' && stored) return stored
    return incoming
  }
  return {
    username: pick(current?.username, values.username),
    avatarUrl: pick(current?.avatarUrl, values.avatarUrl)
  }
}
