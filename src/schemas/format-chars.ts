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
  const BLOCK = 0x1000
  for (let start = 0; start <= 0x10FFFF; start += BLOCK) {
    const block = String.fromCodePoint(...Array.from({ length: BLOCK }, (_, i) => start + i))
    if (!FORMAT_CHAR.test(block)) continue
    for (let cp = start; cp < start + BLOCK; cp++) {
      if (FORMAT_CHAR.test(String.fromCodePoint(cp))) add(cp)
    }
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
