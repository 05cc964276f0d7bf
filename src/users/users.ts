// Users on the wire, and what a profile edit may change.
import { ChatError } from '../chat/errors'
import { checkName, cleanUsername, isStorableText } from '../chat/text'
import { PROFILE_TEXT_FIELDS, PROFILE_URL_FIELDS, type ProfileBody, type UserWire } from '../schemas/users'
import { ConflictError, type User, type UserPatch } from '../store/user-store'

/** A user as GET /users/{id} answers: null, never a placeholder, for what is missing. */
export function userWire (user: User, { owner }: { owner: boolean }): UserWire {
  const wire: UserWire = {
    ...user.fields,
    id: user.id,
    username: user.username,
    display_name: user.displayName,
    avatar_url: user.avatarUrl,
    avatar_urls: user.avatarUrls,
    bio: user.bio,
    created_at: user.createdAt,
    is_guest: !user.account
  }
  // The client reads email only for its own id: nobody else's is handed out.
  if (owner && user.email !== null) wire.email = user.email
  return wire
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const clear = (value: string) => (value.trim() === '' ? null : value.trim())

function text (name: string, value: string): string {
  if (!isStorableText(value)) throw new ChatError(`invalid_${name}`, `${name} must be valid Unicode text without NUL characters`)
  return value
}

/**
 * The change a PUT /users/{id}/profile body asks for: only the fields given, and an
 * empty string clears one (the opposite of a room join, where empty keeps). An
 * account keeps its login name: the client sets username and display_name together
 * on a rename, and display_name is what rooms show.
 */
export function profilePatch (body: ProfileBody, user: User): UserPatch {
  const patch: UserPatch = {}
  if (body.display_name !== undefined) {
    checkName(body.display_name, 'display_name')
    const name = clear(text('display_name', body.display_name))
    if (name !== null && [...name].length < 2) throw new ChatError('invalid_display_name', 'display_name must be at least 2 characters')
    patch.displayName = name
  }
  if (body.username !== undefined && !user.account) {
    checkName(body.username)
    const name = clear(text('username', body.username))
    if (name === null) throw new ChatError('invalid_username', 'username must not be empty')
    patch.username = name
  }
  if (body.avatar_url !== undefined) patch.avatarUrl = clear(body.avatar_url)
  if (body.avatar_urls !== undefined) patch.avatarUrls = body.avatar_urls === null || Object.keys(body.avatar_urls).length === 0 ? null : body.avatar_urls
  if (body.bio !== undefined) patch.bio = clear(text('bio', body.bio))
  if (body.email !== undefined) {
    const email = clear(body.email)
    if (email !== null && !EMAIL.test(email)) throw new ChatError('invalid_email', 'email must look like name@example.com')
    patch.email = email
  }
  const fields: Record<string, string | null> = {}
  for (const key of [...PROFILE_URL_FIELDS, ...Object.keys(PROFILE_TEXT_FIELDS)]) {
    const value = body[key]
    if (typeof value === 'string') fields[key] = clear(text(key, value))
  }
  if (Object.keys(fields).length > 0) patch.fields = fields
  return patch
}

/** A store's ConflictError as the 409 a client reads (`username_taken`, `email_taken`); anything else rethrown. */
export function asConflict (err: unknown): never {
  if (err instanceof ConflictError) throw new ChatError(`${err.field}_taken`, err.message, 409)
  throw err
}

/**
 * The name a client gives for a user. The current client keeps an account's login
 * name as its user name and sends it with every join and message, also after the
 * user chose a display name: for an account, its login name stands for its
 * display name. Anything else is the name given.
 */
export function nameFor<T> (user: User | undefined, given: T): T | string {
  // Most senders are no renamed account: their name passes as given, cleaned later once.
  if (!user?.account || user.displayName === null || user.username === null) return given
  return cleanUsername(given)?.toLowerCase() === user.username.toLowerCase() ? user.displayName : given
}
