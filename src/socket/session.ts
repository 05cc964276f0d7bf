// One socket's frames: in order, within limits, typing state, cleanup on close.
import { ChatError } from '../chat/errors'
import { commitMessage, draftOf, type ChatDeps } from '../chat/messages'
import { checkContent, displayName } from '../chat/text'
import { publishTyping } from '../chat/typing'
import { parseClientFrame, type ClientFrame } from './frames'
import type { Metrics } from '../ops/metrics'
import { Strikes, TokenBucket } from './token-bucket'

export interface SessionLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export interface SessionLimits {
  wsMessageRate: number
  wsMessageBurst: number
  wsFrameRate: number
  wsFrameBurst: number
  wsAbuseLimit: number
  typingThrottleMs: number
  typingTimeoutMs: number
  typingAfterSendMs: number
  wsMaxPendingFrames: number
}

export interface SessionOptions {
  deps: ChatDeps
  limits: SessionLimits
  roomId: string
  userId: string
  connectionId: string
  /** Frames wait for this (the socket's registration) before they are handled. */
  after?: Promise<unknown>
  /** The name a frame gives, as it stands for this user (an account's login name is its display name). */
  nameFor? (given: string | null | undefined): Promise<string | null | undefined>
  /** Writes a frame to this socket only. */
  reply (frame: object): void
  /** Called once when the client keeps going past its limits: the caller closes with 1008. */
  onAbuse (): void
  log: SessionLogger
  metrics?: Pick<Metrics, 'frameRefused'>
}

/** One socket's conversation: frames in, in order, within limits; typing state; cleanup on close. */
export function createSocketSession (opts: SessionOptions) {
  const { deps, limits, roomId, userId, connectionId, reply, log } = opts
  const frameBucket = new TokenBucket(limits.wsFrameRate, limits.wsFrameBurst)
  const messageBucket = new TokenBucket(limits.wsMessageRate, limits.wsMessageBurst)
  const strikes = new Strikes(limits.wsAbuseLimit)
  // Frames are taken in arrival order (parse, profile, hand to the store) and answered
  // in arrival order (echo of a retry, replies, errors). A chat frame's commit runs
  // between the two, so the next frame does not wait for the previous commit: the
  // store takes drafts in call order, and their seqs follow the frames' order.
  let intake: Promise<unknown> = (opts.after ?? Promise.resolve()).catch(() => {})
  let answers: Promise<unknown> = Promise.resolve()
  // Frames taken and not yet answered, commits in flight included.
  let pending = 0
  let ended = false
  // The username a typing_start went out with, so the typing_stop matches it.
  let typingAs: string | null = null
  let typingRelayedAt = 0
  // When this socket last sent a chat message (performance.now()).
  let sentAt = -Infinity
  let typingExpiry: NodeJS.Timeout | undefined

  /** What a frame's turn at intake leaves to do at its turn to be answered. */
  type Answer = (() => unknown) | void

  function enqueue (task: () => Promise<Answer>, clientId?: string): void {
    pending++
    const taken = intake.then(task)
    intake = taken.then(noop, noop)
    answers = answers.then(async () => (await taken)?.())
      .catch((err) => fail(err, clientId, true))
      .finally(() => { pending-- })
  }

  /** `inQueue`: called while the refused frame's own turn runs, so its answer is next anyway. */
  function refuse (err: ChatError, clientId?: string, inQueue = false): void {
    log.info({ code: err.code }, `frame refused: ${err.message}`)
    opts.metrics?.frameRefused(err.code)
    // A refused send names its client_id, so the client can mark that optimistic copy.
    const frame = clientId === undefined
      ? { type: 'error', code: err.code, message: err.message }
      : { type: 'error', code: err.code, message: err.message, client_id: clientId }
    // Answers go out in the order of the frames they answer: behind queued frames, in the queue.
    if (!inQueue && pending > 0 && pending < limits.wsMaxPendingFrames) enqueue(async () => () => reply(frame))
    else reply(frame)
    if (err.code === 'rate_limited' && strikes.strike()) opts.onAbuse()
  }

  function fail (err: unknown, clientId?: string, inQueue = false): void {
    if (err instanceof ChatError) return refuse(err, clientId, inQueue)
    log.error({ err }, 'frame failed')
    opts.metrics?.frameRefused('internal_error')
    reply({ type: 'error', code: 'internal_error', message: 'the frame could not be processed; try again' })
  }

  async function stopTyping (): Promise<void> {
    clearTimeout(typingExpiry)
    if (typingAs === null) return
    const username = typingAs
    typingAs = null
    await publishTyping(deps.broker, { type: 'typing_stop', roomId, userId, username, connectionId })
  }

  async function profileName (): Promise<string> {
    return displayName((await deps.store.getProfile(roomId, userId))?.username)
  }

  async function startTyping (): Promise<void> {
    // The current client's 150 ms debounce can fire after a quick send: a typing_start
    // right after this socket's message would show "typing" to everyone for seconds.
    if (performance.now() - sentAt < limits.typingAfterSendMs) return
    // The older client sends typing_start on every keystroke: relay one per throttle
    // window, and expire the indicator if the user falls silent.
    clearTimeout(typingExpiry)
    typingExpiry = setTimeout(() => enqueue(stopTyping), limits.typingTimeoutMs)
    typingExpiry.unref()
    const now = performance.now()
    if (typingAs !== null && now - typingRelayedAt < limits.typingThrottleMs) return
    typingAs = await profileName()
    typingRelayedAt = now
    await publishTyping(deps.broker, { type: 'typing_start', roomId, userId, username: typingAs, connectionId })
  }

  async function dispatch (parsed: ClientFrame): Promise<Answer> {
    switch (parsed.kind) {
      case 'keep_alive':
        return () => reply({ type: 'ping' })
      case 'pong':
        return
      case 'typing':
        if (parsed.frame.type === 'typing_start') return startTyping()
        if (typingAs === null) typingAs = await profileName()
        return stopTyping()
      case 'chat': {
        const { content, username, avatar, client_id: clientId } = parsed.frame
        checkContent(content, deps.maxContentLength)
        sentAt = performance.now()
        if (typingAs !== null) await stopTyping()
        // The path's user id wins over the body's: frame.user_id is ignored. Handed to
        // the store now, in frame order; the next frame does not wait for the commit.
        const name = opts.nameFor === undefined ? username : await opts.nameFor(username)
        const sent = commitMessage(deps, draftOf({ roomId, userId, content, username: name, avatar, clientId }))
        // Awaited at this frame's answer; handled now, so a failure is not "unhandled" meanwhile.
        sent.catch(noop)
        return async () => {
          const result = await sent
          // A retry of a stored message: the room has it; the sender gets it back to reconcile.
          if (!result.created) reply(result.message)
        }
      }
    }
  }

  return {
    /** Called synchronously from the socket's message event, in arrival order. */
    handle (data: Buffer, isBinary: boolean): void {
      if (ended) return
      if (!frameBucket.take()) return refuse(new ChatError('rate_limited', 'too many frames; slow down'))
      let parsed: ClientFrame
      try {
        parsed = parseClientFrame(data, isBinary)
      } catch (err) {
        return fail(err)
      }
      const clientId = parsed.kind === 'chat' ? parsed.frame.client_id : undefined
      if (parsed.kind === 'chat' && !messageBucket.take()) {
        return refuse(new ChatError('rate_limited', `too many messages; at most ${limits.wsMessageRate} a second`), clientId)
      }
      if (pending >= limits.wsMaxPendingFrames) {
        return refuse(new ChatError('overloaded', 'too many frames in flight; slow down'), clientId)
      }
      enqueue(() => dispatch(parsed), clientId)
    },

    /** After the socket closed: finish queued frames, then clear the typing indicator. */
    async end (): Promise<void> {
      ended = true
      await intake
      await answers
      try {
        await stopTyping()
      } catch (err) {
        log.warn({ err }, 'typing_stop on close failed')
      }
    }
  }
}

function noop (): void {}
