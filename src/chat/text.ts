// The text rules: what a username, an avatar URL and a message's content may be.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { FORMAT_CHAR } from '../schemas/format-chars'
import { AvatarUrlSchema } from '../schemas/http'
import { ChatError } from './errors'

export const DEFAULT_USERNAME = 'Anonymous'
const MAX_USERNAME = 64
const avatarCheck = TypeCompiler.Compile(AvatarUrlSchema)

// Text a store cannot keep as given: NUL (PostgreSQL refuses it) and lone UTF-16
// surrogates (stored as U+FFFD, so history would differ from what was answered).
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export function isStorableText (value: string): boolean {
  return !UNSTORABLE.test(value)
}

/** Text fit for a name: storable, and no format character (a bidi override, a zero-width space…). */
export function isNameText (value: string): boolean {
  return isStorableText(value) && !FORMAT_CHAR.test(value)
}

/** Throws a 400 for a given name with a format character, which would disguise it. */
export function checkName (value: unknown, field = 'username'): void {
  if (typeof value === 'string' && FORMAT_CHAR.test(value)) {
    throw new ChatError(`invalid_${field}`, `${field} must not contain invisible format characters (Unicode Cf: bidi controls, zero-width characters)`)
  }
}

/** A usable username, or undefined for missing, empty, blank, oversized, unstorable or disguised values. */
export function cleanUsername (value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const trimmed = value.trim()
  return trimmed !== '' && trimmed.length <= MAX_USERNAME && isNameText(trimmed) ? trimmed : undefined
}

/** An http(s) avatar URL within limits, or undefined. */
export function cleanAvatar (value: unknown): string | undefined {
  return avatarCheck.Check(value) ? value : undefined
}

export function displayName (username: string | null | undefined): string {
  return username || DEFAULT_USERNAME
}

/** Throws the ChatError a message's content earns: empty, unstorable or too long. */
export function checkContent (content: string, max: number): void {
  if (content.trim() === '') throw new ChatError('empty_content', 'content must not be empty')
  if (!isStorableText(content)) {
    throw new ChatError('invalid_content', 'content must be valid Unicode text without NUL characters')
  }
  // Cheap test first: a string within max UTF-16 units is within max characters.
  if (content.length > max && [...content].length > max) {
    throw new ChatError('content_too_long', `content must be at most ${max} characters`)
  }
}
