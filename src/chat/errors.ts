// The refusal a client caused, shared by every route and socket.

/** A refusal the client caused: HTTP 4xx on REST, an `error` frame on a socket. */
export class ChatError extends Error {
  name = 'ChatError'
  constructor (readonly code: string, message: string, readonly statusCode = 400) {
    super(message)
  }
}
