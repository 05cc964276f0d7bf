// TypeBox schemas of direct messages over REST.
import { Type } from '@sinclair/typebox'
import { IdSchema } from './http'

export const ConversationParamsSchema = Type.Object({ conversation_id: Type.String({ minLength: 3, maxLength: 257 }) })
export const MessageParamsSchema = Type.Object({ message_id: Type.String({ minLength: 1, maxLength: 128 }) })
export const OwnerBodySchema = Type.Object({ user_id: IdSchema })

export const DirectMessageSchema = Type.Object({
  type: Type.Literal('dm_message'),
  id: Type.String(),
  conversation_id: Type.String({ description: 'the pair key: the two user ids sorted (UTF-16 order), joined by "-"' }),
  sender_id: Type.String(),
  sender_username: Type.String(),
  sender_avatar: Type.Union([Type.String(), Type.Null()]),
  receiver_id: Type.String(),
  content: Type.String(),
  timestamp: Type.String(),
  read: Type.Boolean(),
  client_id: Type.Optional(Type.String())
})

export const DirectPageQuerySchema = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^0*[1-9][0-9]{0,3}$' })),
  before: Type.Optional(Type.String({ maxLength: 128, description: 'a message id: the page before it' }))
})

export const DirectSendSchema = Type.Object({
  sender_id: IdSchema,
  receiver_id: IdSchema,
  content: Type.String(),
  sender_username: Type.Optional(Type.String({ maxLength: 64 })),
  sender_avatar: Type.Optional(Type.String({ maxLength: 2048 })),
  client_id: Type.Optional(IdSchema)
})

const Contact = Type.Object({
  id: Type.String(),
  conversation_id: Type.String(),
  username: Type.Union([Type.String(), Type.Null()]),
  avatar_url: Type.Union([Type.String(), Type.Null()]),
  avatar_urls: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
  unread: Type.Integer(),
  last_message: Type.String(),
  last_message_at: Type.String()
})

export const ConversationsSchema = Type.Object({
  conversations: Type.Array(Type.Object({
    id: Type.String(),
    participants: Type.Array(Type.String()),
    last_message: DirectMessageSchema,
    unread: Type.Integer(),
    updated_at: Type.String()
  })),
  contacts: Type.Array(Contact)
})
