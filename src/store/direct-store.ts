// The DirectMessageStore contract every store implements, and the conversation id rule.

/** A direct message, as stored. */
export interface DirectMessage {
  id: string
  /** The client's pair key: the two ids sorted in UTF-16 order, joined by "-". */
  conversationId: string
  senderId: string
  receiverId: string
  content: string
  senderUsername: string
  senderAvatar: string | null
  createdAt: string
  clientId: string | null
  readAt: string | null
}

export interface NewDirectMessage {
  senderId: string
  receiverId: string
  content: string
  /** Null: the sender's profile's, resolved by the caller. */
  senderUsername: string
  senderAvatar: string | null
  /** With one, a retry from the same sender yields the stored message. */
  clientId?: string
}

export interface Conversation {
  conversationId: string
  partnerId: string
  last: DirectMessage
  /** Messages to the user, not yet read. */
  unread: number
}

export interface DirectMessageStore {
  /** Stores a DM (undelivered). The same clientId from the same sender yields the stored one. */
  appendDirect (message: NewDirectMessage): Promise<{ message: DirectMessage, created: boolean }>
  /**
   * Takes the user's undelivered DMs, oldest first, for `leaseMs`: a second caller
   * meanwhile (another tab, another instance) gets none of them. A claim not marked
   * delivered (the process died before) is free again once the lease ends.
   */
  claimUndelivered (userId: string, leaseMs: number, limit: number): Promise<DirectMessage[]>
  markDelivered (ids: string[]): Promise<void>
  /** A conversation's page, oldest first; `beforeId` pages back. Hidden ones (for `viewerId`) left out. */
  directPage (conversationId: string, query: { limit: number, beforeId?: string, viewerId?: string }): Promise<DirectMessage[]>
  /** Marks what `readerId` received in the conversation as read; the number marked. */
  markRead (conversationId: string, readerId: string): Promise<number>
  unreadCount (userId: string): Promise<number>
  /** The user's conversations, newest first, without those they deleted (until a new message). */
  conversations (userId: string, limit: number): Promise<Conversation[]>
  /** Everyone the user has a conversation with. */
  partners (userId: string, limit: number): Promise<string[]>
  directMessage (id: string): Promise<DirectMessage | undefined>
  deleteDirect (id: string): Promise<void>
  /** Hides the conversation's messages so far from `userId` (the partner keeps them). */
  hideConversation (conversationId: string, userId: string): Promise<void>
}

/** The client's conversation id: the pair's ids sorted (UTF-16 order, JS's default), joined by "-". */
export function pairKey (a: string, b: string): string {
  return [a, b].sort().join('-')
}
