// The UserStore contract every store implements, and the user rules every store shares.

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
