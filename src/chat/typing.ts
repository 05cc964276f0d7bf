// Typing indicators: one frame shape for typing_start and typing_stop.
import type { Broker } from '../fanout/broker'

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
