import type { Message } from './schemas'

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
 * Missing or empty values never overwrite anything (DESIGN §1, identity across reconnects).
 */
export type ProfileMode = 'set' | 'fill'

export interface NewMessage {
  roomId: string
  userId: string
  username: string
  avatar: string | null
  content: string
}

export interface RoomStore {
  upsertProfile (roomId: string, userId: string, values: ProfileValues, mode: ProfileMode): Promise<{ profile: Profile, created: boolean }>
  getProfile (roomId: string, userId: string): Promise<Profile | undefined>
  /** Assigns id, seq and timestamp; resolves once the message is durable. */
  append (message: NewMessage): Promise<Message>
  /** The newest `limit` messages, oldest first; avatars missing at write time come from the profile. */
  latest (roomId: string, limit: number): Promise<Message[]>
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
