// The one path of a chat message, REST and socket alike.
import type { Broker } from '../fanout/broker'
import type { Metrics } from '../ops/metrics'
import type { Message } from '../schemas/http'
import type { NewMessage, Store } from '../store/store'
import { messageJson } from '../store/wire-message'
import { checkContent, checkName, cleanAvatar, cleanUsername } from './text'

export interface ChatDeps {
  store: Store
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

/** A message ready to be stored: a name or avatar the sender did not give is the store's to fill from the profile. */
export type Draft = NewMessage

export function draftOf (input: SendInput): Draft {
  const username = cleanUsername(input.username)
  // A name refused as disguised is an error; one refused as blank or too long is just absent.
  if (username === undefined) checkName(input.username)
  const draft: Draft = {
    roomId: input.roomId,
    userId: input.userId,
    username: username ?? null,
    avatar: cleanAvatar(input.avatar) ?? null,
    content: input.content
  }
  if (input.clientId !== undefined) draft.clientId = input.clientId
  return draft
}

/**
 * Makes the draft durable, then publishes it to the room. The store takes it in
 * call order (before this function's first await), so drafts committed one after
 * another get increasing seqs without waiting for each other's commits.
 */
export async function commitMessage (deps: ChatDeps, draft: Draft): Promise<SendResult> {
  const started = performance.now()
  const { clientId } = draft
  const stored = clientId === undefined ? deps.store.append(draft).then((message) => ({ message, created: true })) : deps.store.appendOnce({ ...draft, clientId })
  const result = await stored
  deps.metrics?.messageStored((performance.now() - started) / 1000, result.created)
  // A retry's message went out the first time: publishing it again would hand the
  // room a duplicate, and a recovering socket a seq it already has.
  if (result.created) {
    await deps.broker.publish(draft.roomId, { data: messageJson(result.message), seq: result.message.seq })
  }
  return result
}

/** The one path of a chat message, REST and socket alike. Nothing is answered before the store has it. */
export async function sendMessage (deps: ChatDeps, input: SendInput): Promise<SendResult> {
  checkContent(input.content, deps.maxContentLength)
  return commitMessage(deps, draftOf(input))
}
