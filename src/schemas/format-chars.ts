// Unicode format characters (category Cf: bidi overrides, zero-width and other invisible
// characters): they make one id or name look like another, so ids and names refuse them.

/** Tests text for a format character. */
export const FORMAT_CHAR = /\p{Cf}/u

const hex = (unit: number) => `\\u${unit.toString(16).toUpperCase().padStart(4, '0')}`

/**
 * The format characters spelled for a JSON-schema pattern that means the same with and
 * without the `u` flag (Ajv compiles patterns with it, TypeBox's compiler without):
 * `bmp` for a character class (ranges of code units), `astral` an alternation of
 * surrogate-pair escapes (with `u`, a pair of escapes is one code point; without, two
 * code units: either way the character).
 */
function spell (): { bmp: string, astral: string } {
  const ranges: Array<[number, number]> = []
  const astral: string[] = []
  // Each plane decoded at once from its UTF-16 code units (native, unlike building
  // strings from a million code points: that was a tenth of the start-up), then scanned.
  const every = new RegExp(FORMAT_CHAR.source, 'gu')
  for (let plane = 0; plane <= 0x10; plane++) {
    const units = new Uint16Array(plane === 0 ? 0x10000 : 0x20000)
    for (let i = 0; i < 0x10000; i++) {
      if (plane === 0) units[i] = i
      else {
        const cp = plane * 0x10000 + i - 0x10000
        units[2 * i] = 0xD800 + (cp >> 10)
        units[2 * i + 1] = 0xDC00 + (cp & 0x3FF)
      }
    }
    const text = Buffer.from(units.buffer).toString('utf16le')
    for (const match of text.matchAll(every)) add(match[0].codePointAt(0)!)
  }
  function add (cp: number): void {
    if (cp > 0xFFFF) {
      const pair = String.fromCodePoint(cp)
      astral.push(hex(pair.charCodeAt(0)) + hex(pair.charCodeAt(1)))
    } else if (ranges.length > 0 && ranges[ranges.length - 1][1] === cp - 1) {
      ranges[ranges.length - 1][1] = cp
    } else {
      ranges.push([cp, cp])
    }
  }
  return {
    bmp: ranges.map(([from, to]) => (from === to ? hex(from) : `${hex(from)}-${hex(to)}`)).join(''),
    astral: astral.join('|')
  }
}

export const FORMAT_CHARS = spell()
