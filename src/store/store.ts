// The RoomStore contract every store implements, and the rules every store shares.
import type { Message } from '../schemas/http'

export interface Profile {
  roomId: string
  userId: string
  username: string | null
  avatarUrl: string | null
  joinedAt: string
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

export interface Room {
  id: string
  name: string | null
  thumbnailUrl: string | null
  createdAt: string
}

export interface RoomSummary extends Room {
  memberCount: number
  lastSeq: number
  lastMessageAt: string | null
}

export interface RoomStore {
  upsertProfile (roomId: string, userId: string, values: ProfileValues, mode: ProfileMode): Promise<{ profile: Profile, created: boolean }>
  getProfile (roomId: string, userId: string): Promise<Profile | undefined>
  /** A room's members (profiles), oldest first, at most `limit`. */
  members (roomId: string, limit: number): Promise<Profile[]>
  /** Creates a named room; a room with that id already there is an error. */
  createRoom (room: { id: string, name: string, thumbnailUrl: string | null }): Promise<Room>
  /** Rooms, most recently active first. */
  listRooms (limit: number): Promise<RoomSummary[]>
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
  /** The seq of a message of the room, by id. */
  seqOf (roomId: string, messageId: string): Promise<number | undefined>
  /** The room's last assigned seq; 0 for a room never written. */
  lastSeq (roomId: string): Promise<number>
  ping (): Promise<void>
  close (): Promise<void>
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

/** The one message shape, REST and socket alike, from a stored message: every store builds it here. */
export function wireMessage (m: NewMessage & { username: string, id: string, seq: number, timestamp: string }): Message {
  const message: Message = {
    type: 'message',
    id: m.id,
    room_id: m.roomId,
    user_id: m.userId,
    username: m.username,
    content: m.content,
    avatar: m.avatar,
    avatar_url: m.avatar,
    timestamp: m.timestamp,
    seq: m.seq
  }
  if (m.clientId !== undefined) message.client_id = m.clientId
  return message
}
