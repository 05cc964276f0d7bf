import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Broker } from './broker'
import type { Metrics } from './metrics'
import { AvatarUrlSchema, type Message } from './schemas'
import type { RoomStore } from './store'

/** A refusal the client caused: HTTP 4xx on REST, an `error` frame on a socket. */
export class ChatError extends Error {
  name = 'ChatError'
  constructor (readonly code: string, message: string, readonly statusCode = 400) {
    super(message)
  }
}

export interface ChatDeps {
  store: RoomStore
  broker: Broker
  maxContentLength: number
  metrics?: Pick<Metrics, 'messageStored'>
}

export interface SendInput {
  roomId: string
  userId: string
  content: string
  /** Applies to this message only; the profile is never changed by a message. */
  username?: string | null
  avatar?: string | null
  /** The sender's id for this message: a retry with the same one is not stored twice. */
  clientId?: string
}

export interface SendResult {
  message: Message
  /** False when clientId matched a message already stored: nothing was stored or published. */
  created: boolean
}

const DEFAULT_USERNAME = 'Anonymous'
const MAX_USERNAME = 64
const avatarCheck = TypeCompiler.Compile(AvatarUrlSchema)

// Text a store cannot keep as given: NUL (PostgreSQL refuses it) and lone UTF-16
// surrogates (stored as U+FFFD, so history would differ from what was answered).
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export function isStorableText (value: string): boolean {
  return !UNSTORABLE.test(value)
}

/** A usable username, or undefined for missing, empty, blank, oversized or unstorable values. */
export function cleanUsername (value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const trimmed = value.trim()
  return trimmed !== '' && trimmed.length <= MAX_USERNAME && isStorableText(trimmed) ? trimmed : undefined
}

/** An http(s) avatar URL within limits, or undefined. */
export function cleanAvatar (value: unknown): string | undefined {
  return avatarCheck.Check(value) ? value : undefined
}

function checkContent (content: string, max: number): void {
  if (content.trim() === '') throw new ChatError('empty_content', 'content must not be empty')
  if (!isStorableText(content)) {
    throw new ChatError('invalid_content', 'content must be valid Unicode text without NUL characters')
  }
  // Cheap test first: a string within max UTF-16 units is within max characters.
  if (content.length > max && [...content].length > max) {
    throw new ChatError('content_too_long', `content must be at most ${max} characters`)
  }
}

/**
 * The one path of a chat message, REST and socket alike: check, resolve the
 * profile, make it durable, then publish it to the room.
 */
export async function sendMessage (deps: ChatDeps, input: SendInput): Promise<SendResult> {
  checkContent(input.content, deps.maxContentLength)
  const profile = await deps.store.getProfile(input.roomId, input.userId)
  const draft = {
    roomId: input.roomId,
    userId: input.userId,
    username: cleanUsername(input.username) ?? profile?.username ?? DEFAULT_USERNAME,
    avatar: cleanAvatar(input.avatar) ?? profile?.avatarUrl ?? null,
    content: input.content
  }
  const { clientId } = input
  const started = performance.now()
  const result = clientId === undefined
    ? { message: await deps.store.append(draft), created: true }
    : await deps.store.appendOnce({ ...draft, clientId })
  deps.metrics?.messageStored((performance.now() - started) / 1000, result.created)
  // A retry's message went out the first time: publishing it again would hand the
  // room a duplicate, and a recovering socket a seq it already has.
  if (result.created) {
    await deps.broker.publish(input.roomId, { data: JSON.stringify(result.message), seq: result.message.seq })
  }
  return result
}

export interface TypingEvent {
  type: 'typing_start' | 'typing_stop'
  roomId: string
  userId: string
  username: string
  /** The connection that typed: it does not get its own indicator back. */
  connectionId: string
}

export async function publishTyping (broker: Broker, event: TypingEvent): Promise<void> {
  const frame = {
    type: event.type,
    room_id: event.roomId,
    user_id: event.userId,
    username: event.username,
    timestamp: new Date().toISOString()
  }
  await broker.publish(event.roomId, { data: JSON.stringify(frame), except: event.connectionId })
}

export function displayName (username: string | null | undefined): string {
  return username || DEFAULT_USERNAME
}
