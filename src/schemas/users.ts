// TypeBox schemas of users, accounts and room details (the current client's routes).
import { Type, type Static } from '@sinclair/typebox'
import { AvatarUrlSchema, IdSchema } from './http'

const Text = (maxLength: number, description?: string) => Type.String({ maxLength, ...(description ? { description } : {}) })
/** An http(s) URL, or "" to clear. */
const UrlOrEmpty = Type.Union([AvatarUrlSchema, Type.Literal('')])
export const AvatarUrlsSchema = Type.Record(Type.String({ maxLength: 32 }), AvatarUrlSchema, { maxProperties: 8 })

export const UserParamsSchema = Type.Object({ user_id: IdSchema })

export const UserSchema = Type.Object({
  id: Type.String(),
  username: Type.Union([Type.String(), Type.Null()]),
  display_name: Type.Union([Type.String(), Type.Null()]),
  avatar_url: Type.Union([Type.String(), Type.Null()], { description: 'null, never a placeholder, when there is none' }),
  avatar_urls: Type.Union([AvatarUrlsSchema, Type.Null()]),
  bio: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  is_guest: Type.Boolean({ description: 'no password: a guest or a user seen only in rooms' }),
  email: Type.Optional(Type.String({ description: 'only to its owner, with their token' }))
}, { additionalProperties: Type.String() })
export type UserWire = Static<typeof UserSchema>

/** The profile fields kept as they are, beside the named ones: http(s) URLs or short text. */
export const PROFILE_URL_FIELDS = ['profile_video_url', 'profile_audio_url', 'banner_media_url'] as const
export const PROFILE_TEXT_FIELDS = {
  about_text: 2000,
  profile_track_name: 128,
  accent_color: 32,
  banner_color: 32,
  name_font: 64,
  bio_font: 64,
  about_font: 64,
  banner_media_type: 32
} as const

export const ProfileBodySchema = Type.Object({
  display_name: Type.Optional(Text(64)),
  username: Type.Optional(Text(64, 'a guest\'s shown name; an account keeps its login name (display_name is what rooms show)')),
  avatar_url: Type.Optional(UrlOrEmpty),
  avatar_urls: Type.Optional(Type.Union([AvatarUrlsSchema, Type.Null()])),
  bio: Type.Optional(Text(500)),
  email: Type.Optional(Text(254)),
  ...Object.fromEntries(PROFILE_URL_FIELDS.map((key) => [key, Type.Optional(UrlOrEmpty)])),
  ...Object.fromEntries(Object.entries(PROFILE_TEXT_FIELDS).map(([key, max]) => [key, Type.Optional(Text(max))]))
}, { description: 'Only the fields given change; an empty string clears one.' })
export type ProfileBody = Static<typeof ProfileBodySchema> & Record<string, unknown>

export const ProfileReplySchema = Type.Object({ success: Type.Literal(true), user: UserSchema })

export const GuestBodySchema = Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }) })

export const SearchQuerySchema = Type.Object({
  q: Type.String({ minLength: 1, maxLength: 64 }),
  limit: Type.Optional(Type.String({ pattern: '^0*[1-9][0-9]{0,2}$' }))
})

export const SignupBodySchema = Type.Object({
  username: Type.String({ minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$', description: '3–32 letters, digits, _ . -' }),
  email: Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$' }),
  password: Type.String({ minLength: 8, maxLength: 256 })
})

export const LoginBodySchema = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 254, description: 'the login name or the email' }),
  password: Type.String({ minLength: 1, maxLength: 256 })
})

export const SessionSchema = Type.Object({ user: UserSchema, token: Type.String() })

