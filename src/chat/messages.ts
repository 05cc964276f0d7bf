// The one path of a chat message, REST and socket alike.
import type { Broker } from '../fanout/broker'
import type { Metrics } from '../ops/metrics'
import type { Message } from '../schemas/http'
import type { RoomStore } from '../store/store'
import { checkContent, cleanAvatar, cleanUsername, DEFAULT_USERNAME } from './text'

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

/**
 * Check, resolve the profile, make it durable, then publish it to the room.
 * Nothing is answered before the store has the message.
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
