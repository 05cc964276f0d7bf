// Direct messages: the one path of a DM (REST and socket alike), its wire shape, its channels.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ChatError } from '../chat/errors'
import { checkContent, checkName, cleanAvatar, cleanUsername, DEFAULT_USERNAME } from '../chat/text'
import type { Broker } from '../fanout/broker'
import { IdSchema } from '../schemas/http'
import type { Store } from '../store/store'
import type { DirectMessage } from '../store/direct-store'
import { roomName } from '../store/user-store'

const idCheck = TypeCompiler.Compile(IdSchema)
// A room id cannot contain "/": a user's DM channel can never be a room's.
const CHANNEL = 'dm/'

/** The broker channel (and registry key) of a user's DM sockets. */
export function dmChannel (userId: string): string {
  return `${CHANNEL}${userId}`
}

export function isDmChannel (key: string): boolean {
  return key.startsWith(CHANNEL)
}

/** A DM on the wire, as the current client reads it (flat; it also takes a nested `message`). */
export function dmWire (message: DirectMessage) {
  const wire: Record<string, unknown> = {
    type: 'dm_message',
    id: message.id,
    conversation_id: message.conversationId,
    sender_id: message.senderId,
    sender_username: message.senderUsername,
    sender_avatar: message.senderAvatar,
    receiver_id: message.receiverId,
    content: message.content,
    timestamp: message.createdAt,
    read: message.readAt !== null
  }
  if (message.clientId !== null) wire.client_id = message.clientId
  return wire
}

/** Keys of a DM's deliveries: to the receiver (which marks it delivered) and to the sender's other sockets. */
export const inboundKey = (id: string) => `in:${id}`
export const outboundKey = (id: string) => `out:${id}`

export interface DirectDeps {
  store: Store
  broker: Broker
  maxContentLength: number
}

export interface DirectInput {
  senderId: string
  receiverId: unknown
  content: unknown
  username?: unknown
  avatar?: unknown
  clientId?: string
  /** The sending socket: it gets dm_sent, not the message. */
  connectionId?: string
  /** The sender's name and avatar from their socket's query, when their profile has none. */
  fallback?: { username?: string, avatarUrl?: string }
}

/**
 * Checks, stores (undelivered), then publishes to the receiver's DM sockets on every
 * instance and to the sender's other sockets. A retry of a stored client_id is not
 * published again.
 */
export async function sendDirect (deps: DirectDeps, input: DirectInput): Promise<{ message: DirectMessage, created: boolean }> {
  const { senderId, receiverId, content } = input
  if (typeof receiverId !== 'string' || !idCheck.Check(receiverId)) throw new ChatError('invalid_receiver', 'receiver_id must be a user id')
  if (receiverId === senderId) throw new ChatError('self_message', 'a direct message needs another user as its receiver')
  if (typeof content !== 'string') throw new ChatError('invalid_frame', 'content must be a string')
  checkContent(content, deps.maxContentLength)
  checkName(input.username, 'sender_username')
  // The frame's name and avatar when it has them; the profile's otherwise (the client
  // sends "" and "Anonymous" freely, and a DM without an avatar makes it poll the sender).
  const ownName = cleanUsername(input.username)
  const givenName = ownName === DEFAULT_USERNAME ? undefined : ownName
  const givenAvatar = cleanAvatar(input.avatar)
  const user = givenName !== undefined && givenAvatar !== undefined ? undefined : await deps.store.getUser(senderId)
  const name = givenName ?? (user && roomName(user)) ?? input.fallback?.username ?? DEFAULT_USERNAME
  const avatar = givenAvatar ?? user?.avatarUrl ?? input.fallback?.avatarUrl ?? null
  const result = await deps.store.appendDirect({ senderId, receiverId, content, senderUsername: name, senderAvatar: avatar, clientId: input.clientId })
  if (result.created) {
    const data = JSON.stringify(dmWire(result.message))
    await Promise.all([
      deps.broker.publish(dmChannel(receiverId), { data, key: inboundKey(result.message.id) }),
      deps.broker.publish(dmChannel(senderId), { data, key: outboundKey(result.message.id), except: input.connectionId })
    ])
  }
  return result
}
