// How each environment variable's text becomes a value, and the error that names a bad one.

export class ConfigError extends Error {
  name = 'ConfigError'
}

export function oneOf (name: string, value: string, allowed: string[]): string {
  if (allowed.includes(value)) return value
  throw new ConfigError(`invalid configuration: ${name}: "${value}" is not one of ${allowed.join(', ')}`)
}

export function parseBoolean (value: string, name: string): boolean {
  const normalized = value.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(normalized)) return true
  if (['false', '0', 'no', 'off', ''].includes(normalized)) return false
  throw new ConfigError(`invalid configuration: ${name}: "${value}" is not a boolean (true/false, 1/0, yes/no)`)
}

export function parseSecret (value: string): string | null {
  if (value === '') return null
  // HS256 with a short secret can be brute-forced offline from any token.
  if (value.length < 32) throw new ConfigError('invalid configuration: AUTH_SECRET: use at least 32 characters (e.g. `openssl rand -hex 32`)')
  return value
}

export function parseTrustProxy (value: string): boolean | number | string[] {
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  if (/^(true|false|yes|no|on|off)$/i.test(trimmed) || trimmed === '') return parseBoolean(trimmed, 'TRUST_PROXY')
  const list = trimmed.split(',').map((entry) => entry.trim()).filter(Boolean)
  for (const entry of list) {
    if (!/^[0-9a-f:.]+(\/\d{1,3})?$/i.test(entry)) {
      throw new ConfigError(`invalid configuration: TRUST_PROXY: "${entry}" is not true/false, a hop count, or an address/CIDR list`)
    }
  }
  return list
}

export function isPostgresUrl (value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value)
}

export function parsePublicUrl (value: string): string | null {
  if (value.trim() === '') return null
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new ConfigError('invalid configuration: PUBLIC_URL: not a URL like https://api.example.com')
  }
  if (!/^https?:$/.test(url.protocol) || url.origin !== value.trim().replace(/\/$/, '')) {
    throw new ConfigError(`invalid configuration: PUBLIC_URL: "${value}" is not an http(s) origin (did you mean "${url.origin}"?)`)
  }
  return url.origin
}

export function parseSchemaName (value: string): string | null {
  if (value === '') return null
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
    throw new ConfigError(`invalid configuration: DATABASE_SCHEMA: "${value}" is not a lower-case PostgreSQL identifier`)
  }
  return value
}

export function parseRedisUrl (value: string): string | null {
  if (value.trim() === '') return null
  if (!/^rediss?:\/\/[^\s]+$/i.test(value.trim())) {
    throw new ConfigError('invalid configuration: REDIS_URL: expected redis://[user:password@]host:port[/db] or rediss://…')
  }
  return value.trim()
}

export function parseDatabaseUrl (value: string): string {
  if (isPostgresUrl(value)) {
    try {
      new URL(value) // eslint-disable-line no-new
    } catch {
      throw new ConfigError('invalid configuration: DATABASE_URL: not a valid postgres:// URL')
    }
    return value
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !/^(sqlite|file):/i.test(value)) {
    throw new ConfigError(`invalid configuration: DATABASE_URL: unsupported scheme in "${value.split(':')[0]}:"; use a SQLite file path or a postgres:// URL`)
  }
  return value.replace(/^(sqlite|file):(\/\/)?/i, '')
}

export function parseOrigins (value: string): string[] {
  const origins = value.split(',').map((origin) => origin.trim()).filter(Boolean)
  for (const origin of origins) {
    if (origin === '*') {
      throw new ConfigError('invalid configuration: CORS_ORIGINS: "*" cannot be used with credentials; list the exact origins')
    }
    let url: URL
    try {
      url = new URL(origin)
    } catch {
      throw new ConfigError(`invalid configuration: CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com`)
    }
    if (url.origin !== origin) {
      throw new ConfigError(`invalid configuration: CORS_ORIGINS: "${origin}" is not an exact origin (did you mean "${url.origin}"?)`)
    }
  }
  return origins
}

export function parsePattern (value: string): RegExp | null {
  if (value === '') return null
  try {
    // Anchored, so a pattern for *.vercel.app cannot match https://evil.vercel.app.attacker.com.
    return new RegExp(`^(?:${value})$`)
  } catch (err) {
    throw new ConfigError(`invalid configuration: CORS_ORIGIN_PATTERN: ${(err as Error).message}`)
  }
}
