import { ChatError, cleanUsername, displayName, publishTyping, sendMessage, type ChatDeps } from './chat'
import { parseClientFrame, type ClientFrame } from './frames'

export interface SessionLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export interface SessionOptions {
  deps: ChatDeps
  roomId: string
  userId: string
  connectionId: string
  /** Frames wait for this (the socket's registration) before they are handled. */
  after?: Promise<unknown>
  /** Writes a frame to this socket only. */
  reply (frame: object): void
  log: SessionLogger
}

// Frames are handled one at a time, in order; a client that outruns the store is
// told so instead of queueing without bound.
const MAX_PENDING_FRAMES = 64

/** One socket's conversation: frames in, in order; typing state; cleanup on close. */
export function createSocketSession (opts: SessionOptions) {
  const { deps, roomId, userId, connectionId, reply, log } = opts
  let queue: Promise<unknown> = (opts.after ?? Promise.resolve()).catch(() => {})
  let pending = 0
  // The username a typing_start went out with, so the typing_stop matches it.
  let typingAs: string | null = null

  async function stopTyping (): Promise<void> {
    if (typingAs === null) return
    const username = typingAs
    typingAs = null
    await publishTyping(deps.broker, { type: 'typing_stop', roomId, userId, username, connectionId })
  }

  async function dispatch (parsed: ClientFrame): Promise<void> {
    switch (parsed.kind) {
      case 'keep_alive':
        reply({ type: 'ping' })
        return
      case 'pong':
        return
      case 'typing': {
        if (parsed.frame.type === 'typing_stop') {
          if (typingAs === null) typingAs = await profileName()
          await stopTyping()
          return
        }
        typingAs = await profileName()
        await publishTyping(deps.broker, { type: 'typing_start', roomId, userId, username: typingAs, connectionId })
        return
      }
      case 'chat': {
        const { content, username, avatar } = parsed.frame
        // The path's user id wins over the body's: frame.user_id is ignored.
        const message = { roomId, userId, content, username: cleanUsername(username), avatar }
        if (content.trim() !== '') await stopTyping()
        await sendMessage(deps, message)
      }
    }
  }

  async function profileName (): Promise<string> {
    return displayName((await deps.store.getProfile(roomId, userId))?.username)
  }

  async function run (data: Buffer, isBinary: boolean): Promise<void> {
    try {
      await dispatch(parseClientFrame(data, isBinary))
    } catch (err) {
      if (err instanceof ChatError) {
        log.info({ code: err.code }, `frame refused: ${err.message}`)
        reply({ type: 'error', code: err.code, message: err.message })
      } else {
        log.error({ err }, 'frame failed')
        reply({ type: 'error', code: 'internal_error', message: 'the frame could not be processed; try again' })
      }
    } finally {
      pending--
    }
  }

  return {
    /** Called synchronously from the socket's message event. */
    handle (data: Buffer, isBinary: boolean): void {
      if (pending >= MAX_PENDING_FRAMES) {
        reply({ type: 'error', code: 'overloaded', message: 'too many frames in flight; slow down' })
        return
      }
      pending++
      queue = queue.then(() => run(data, isBinary))
    },

    /** After the socket closed: finish queued frames, then clear the typing indicator. */
    async end (): Promise<void> {
      await queue
      try {
        await stopTyping()
      } catch (err) {
        log.warn({ err }, 'typing_stop on close failed')
      }
    }
  }
}
