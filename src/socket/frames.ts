// Parses one client frame against the schemas; anything else is a ChatError.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ChatError } from '../chat/errors'
import { ChatFrameSchema, TypingFrameSchema, type ChatFrame, type TypingFrame } from '../schemas/http'

export type ClientFrame =
  | { kind: 'chat', frame: ChatFrame }
  | { kind: 'typing', frame: TypingFrame }
  | { kind: 'keep_alive' }
  | { kind: 'pong' }

const chatCheck = TypeCompiler.Compile(ChatFrameSchema)
const typingCheck = TypeCompiler.Compile(TypingFrameSchema)

function checked<T> (check: { Check (value: unknown): value is T, Errors (value: unknown): Iterable<{ path: string, message: string }> }, value: unknown): T {
  if (check.Check(value)) return value
  const [first] = check.Errors(value)
  const where = first.path === '' ? 'frame' : first.path.slice(1)
  throw new ChatError('invalid_frame', `${where}: ${first.message.toLowerCase()}`)
}

/** A frame as every socket (room and DM) takes it: JSON text holding one object. */
export function parseJsonObject (data: Buffer, isBinary: boolean): Record<string, unknown> {
  if (isBinary) throw new ChatError('binary_not_supported', 'frames must be JSON text')
  let value: unknown
  try {
    value = JSON.parse(data.toString('utf8'))
  } catch {
    throw new ChatError('invalid_json', 'frame is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ChatError('invalid_frame', 'frame must be a JSON object')
  }
  return value as Record<string, unknown>
}

/** The refusal of an unknown frame type, the same on every socket. */
export function unknownType (type: unknown): ChatError {
  return new ChatError('unknown_type', typeof type === 'string'
    ? `unknown frame type "${type.slice(0, 64)}"`
    : 'frame type must be a string')
}

/** Parses one client frame; anything the protocol does not define throws a ChatError. */
export function parseClientFrame (data: Buffer, isBinary: boolean): ClientFrame {
  const value = parseJsonObject(data, isBinary)
  const type = (value as { type?: unknown }).type
  switch (type) {
    case undefined:
    case null:
    case 'message': {
      if (type === null) delete (value as { type?: unknown }).type
      return { kind: 'chat', frame: checked(chatCheck, value) }
    }
    case 'typing_start':
    case 'typing_stop':
      return { kind: 'typing', frame: checked(typingCheck, value) }
    case 'keep_alive':
      return { kind: 'keep_alive' }
    case 'pong':
      return { kind: 'pong' }
    default:
      throw unknownType(type)
  }
}
