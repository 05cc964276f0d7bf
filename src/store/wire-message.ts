// A chat message on the wire, REST and socket alike: its one shape, and its JSON made once.
import type { Message } from '../schemas/http'
import type { NewMessage } from './store'

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
