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

/** A direct message, as stored. */
export interface DirectMessage {
  id: string
  /** The client's pair key: the two ids sorted in UTF-16 order, joined by "-". */
  conversationId: string
  senderId: string
  receiverId: string
  content: string
  senderUsername: string
  senderAvatar: string | null
  createdAt: string
  clientId: string | null
  readAt: string | null
}

export interface NewDirectMessage {
  senderId: string
  receiverId: string
  content: string
  /** Null: the sender's profile's, resolved by the caller. */
  senderUsername: string
  senderAvatar: string | null
  /** With one, a retry from the same sender yields the stored message. */
  clientId?: string
}

export interface Conversation {
  conversationId: string
  partnerId: string
  last: DirectMessage
  /** Messages to the user, not yet read. */
  unread: number
}

export interface DirectMessageStore {
  /** Stores a DM (undelivered). The same clientId from the same sender yields the stored one. */
  appendDirect (message: NewDirectMessage): Promise<{ message: DirectMessage, created: boolean }>
  /**
   * Takes the user's undelivered DMs, oldest first, for `leaseMs`: a second caller
   * meanwhile (another tab, another instance) gets none of them. A claim not marked
   * delivered (the process died before) is free again once the lease ends.
   */
  claimUndelivered (userId: string, leaseMs: number, limit: number): Promise<DirectMessage[]>
  markDelivered (ids: string[]): Promise<void>
  /** A conversation's page, oldest first; `beforeId` pages back. Hidden ones (for `viewerId`) left out. */
  directPage (conversationId: string, query: { limit: number, beforeId?: string, viewerId?: string }): Promise<DirectMessage[]>
  /** Marks what `readerId` received in the conversation as read; the number marked. */
  markRead (conversationId: string, readerId: string): Promise<number>
  unreadCount (userId: string): Promise<number>
  /** The user's conversations, newest first, without those they deleted (until a new message). */
  conversations (userId: string, limit: number): Promise<Conversation[]>
  /** Everyone the user has a conversation with. */
  partners (userId: string, limit: number): Promise<string[]>
  directMessage (id: string): Promise<DirectMessage | undefined>
  deleteDirect (id: string): Promise<void>
  /** Hides the conversation's messages so far from `userId` (the partner keeps them). */
  hideConversation (conversationId: string, userId: string): Promise<void>
}

/** The client's conversation id: the pair's ids sorted (UTF-16 order, JS's default), joined by "-". */
export function pairKey (a: string, b: string): string {
  return [a, b].sort().join('-')
}

/** Everything a store keeps. */
export type Store = RoomStore & UserStore & DirectMessageStore

/** A user across rooms, DMs and accounts: one id space. */
export interface User {
  id: string
  /** The login name of an account; a guest's or a room profile's name otherwise. */
  username: string | null
  displayName: string | null
  email: string | null
  avatarUrl: string | null
  avatarUrls: Record<string, string> | null
  bio: string | null
  /** The other profile fields the client keeps (profile_video_url, accent_color, …). */
  fields: Record<string, string>
  /** Has a password: its profile changes only with its token. */
  account: boolean
  createdAt: string
}

/** A change to a user: a value replaces, null clears, absent keeps. */
export interface UserPatch {
  username?: string
  displayName?: string | null
  email?: string | null
  avatarUrl?: string | null
  avatarUrls?: Record<string, string> | null
  bio?: string | null
  fields?: Record<string, string | null>
}

/** A login name or email another account has. */
export class ConflictError extends Error {
  name = 'ConflictError'
  constructor (readonly field: 'username' | 'email') {
    super(`${field} already registered`)
  }
}

export interface UserStore {
  /** The user, or one built from their newest room profile; undefined only for an id never seen. */
  getUser (id: string): Promise<User | undefined>
  /** A guest (no password) or an account. Throws ConflictError for an account's name or email. */
  createUser (user: { id: string, username: string, email?: string, passwordHash?: string }): Promise<User>
  /** An account by login name or email, case-insensitive, with its password hash. */
  accountByLogin (login: string): Promise<{ user: User, passwordHash: string } | undefined>
  /**
   * Applies the patch (creating the user's row from their room profile if needed).
   * A new name or avatar reaches every room profile of theirs, so later messages carry it.
   */
  updateUser (id: string, patch: UserPatch): Promise<User | undefined>
  /** Users whose name starts with `prefix`, case-insensitive. */
  searchUsers (prefix: string, limit: number): Promise<User[]>
  /** A setting kept in the store (the token signing key): the stored value, or `create()`'s, stored. */
  setting (key: string, create: () => string): Promise<string>
}

/** The name a user shows in rooms. */
export function roomName (user: Pick<User, 'displayName' | 'username'>): string | null {
  return user.displayName ?? user.username
}

/** The patch rule every store shares: a value replaces, null clears, absent keeps. */
export function applyPatch (user: User, patch: UserPatch): User {
  const fields = { ...user.fields }
  for (const [key, value] of Object.entries(patch.fields ?? {})) {
    if (value === null) delete fields[key]
    else fields[key] = value
  }
  const pick = <T> (incoming: T | undefined, current: T): T => (incoming === undefined ? current : incoming)
  return {
    ...user,
    username: pick(patch.username, user.username),
    displayName: pick(patch.displayName, user.displayName),
    email: pick(patch.email, user.email),
    avatarUrl: pick(patch.avatarUrl, user.avatarUrl),
    avatarUrls: pick(patch.avatarUrls, user.avatarUrls),
    bio: pick(patch.bio, user.bio),
    fields
  }
}

/** The key a user is searched by: their shown name, lower-cased. */
export function nameKey (user: Pick<User, 'displayName' | 'username'>): string | null {
  return roomName(user)?.toLowerCase() ?? null
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

// The JSON a store wrote with a message, kept for the answer and the publish that follow:
// one serialisation per message, not one for the row and another for the room.
const serialized = new WeakMap<Message, string>()

/**
 * The one message shape, REST and socket alike, from a stored message: every store builds
 * it here. `json`, when the store has the message's wire JSON already, is kept as its JSON.
 */
export function wireMessage (m: NewMessage & { username: string, id: string, seq: number, timestamp: string }, json?: string): Message {
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
  if (json !== undefined) serialized.set(message, json)
  return message
}


/** A message's wire JSON: the one its store wrote with it, or made now (and kept). */
export function messageJson (message: Message): string {
  let json = serialized.get(message)
  if (json === undefined) {
    json = JSON.stringify(message)
    serialized.set(message, json)
  }
  return json
}

/**
 * A stored message's wire JSON with its missing avatar filled (history's rule): only for
 * a message written without one whose sender's profile has one since, so rarely paid.
 */
export function withAvatar (json: string, avatar: string | null): string {
  if (avatar === null) return json
  const message = JSON.parse(json) as Message
  message.avatar = avatar
  message.avatar_url = avatar
  return JSON.stringify(message)
}
