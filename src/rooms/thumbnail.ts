// Room thumbnails: an http(s) URL as given, or an uploaded image kept and served by Parley.
import { createHash } from 'node:crypto'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ChatError } from '../chat/errors'
import { AvatarUrlSchema } from '../schemas/http'
import type { Thumbnail } from '../store/store'

const urlCheck = TypeCompiler.Compile(AvatarUrlSchema)
const DATA_URL = /^data:(image\/(?:jpeg|png|gif|webp));base64,([A-Za-z0-9+/]*={0,2})$/

// What each accepted type starts with: a data URL's claimed type must be its content's.
// SVG is not accepted: it can carry script.
const MAGIC: Record<string, (data: Buffer) => boolean> = {
  'image/jpeg': (d) => d[0] === 0xff && d[1] === 0xd8 && d[2] === 0xff,
  'image/png': (d) => d.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/gif': (d) => d.subarray(0, 4).toString('latin1') === 'GIF8',
  'image/webp': (d) => d.subarray(0, 4).toString('latin1') === 'RIFF' && d.subarray(8, 12).toString('latin1') === 'WEBP'
}

export type ParsedThumbnail =
  | { url: string, upload: null }
  | { url: null, upload: Thumbnail & { version: string } }

/** The thumbnail a POST /rooms body gives, checked: a 400 (or 413) says what is wrong. */
export function parseThumbnail (value: string, maxBytes: number): ParsedThumbnail {
  if (!value.startsWith('data:')) {
    if (!urlCheck.Check(value)) throw new ChatError('invalid_thumbnail', 'thumbnail_url must be an http(s) URL of at most 2048 characters, or a data:image/… URL')
    return { url: value, upload: null }
  }
  // Cheap test first: base64 is 4/3 the size of what it carries.
  if (value.length > Math.ceil(maxBytes / 3) * 4 + 64) throw new ChatError('thumbnail_too_large', `the thumbnail must be at most ${maxBytes} bytes`, 413)
  const match = DATA_URL.exec(value)
  if (!match) throw new ChatError('invalid_thumbnail', 'an uploaded thumbnail must be a base64 data URL of a JPEG, PNG, GIF or WebP image')
  const [, contentType, base64] = match
  const data = Buffer.from(base64, 'base64')
  if (data.length > maxBytes) throw new ChatError('thumbnail_too_large', `the thumbnail must be at most ${maxBytes} bytes`, 413)
  if (data.length < 12 || !MAGIC[contentType](data)) throw new ChatError('invalid_thumbnail', `the thumbnail is not a ${contentType.slice(6).toUpperCase()} image`)
  const version = createHash('sha256').update(data).digest('base64url').slice(0, 12)
  return { url: null, upload: { contentType, data, version } }
}

/** Where Parley serves a room's uploaded thumbnail: versioned, so it can be cached for good. */
export function thumbnailPath (roomId: string, version: string): string {
  return `/rooms/${encodeURIComponent(roomId)}/thumbnail?v=${version}`
}
