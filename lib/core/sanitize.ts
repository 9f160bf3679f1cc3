// The one sanitiser for text that reaches a terminal: warnings, errors, retries, tables,
// annotations and printed values. Text from a server or an image (a label, a platform, a media
// type, a message) may carry escape sequences that set the terminal title or clear the screen,
// line breaks that forge a second line, and bidirectional controls that reorder what a reader
// sees ("Trojan Source"). They are shown escaped (`\x1b`, `\n`, `\u202e`), never sent raw.

// Colour sequences (SGR, `ESC [ … m`) only style text: they are dropped, so a tool's coloured
// output reads as its words. Every other escape sequence is shown, its ESC escaped.
// deno-lint-ignore no-control-regex -- removing them is the point
const SGR = /\x1b\[[0-9;:]*m/g;
// C0 controls but tab, DEL, C1 controls, the Unicode line and paragraph separators and the
// bidirectional marks, embeddings, overrides and isolates.
const UNSAFE =
  // deno-lint-ignore no-control-regex -- escaping them is the point
  /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// The same, less the C0 controls JSON.stringify already escapes.
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r" };

function escaped(char: string): string {
  const code = char.charCodeAt(0);
  return NAMED[char] ??
    (code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`);
}

/**
 * Text made safe for a terminal, on one line: colour sequences dropped, every other control
 * character (ESC, BEL, CR, LF, other C0 and C1, bidi controls) shown escaped. Tabs stay.
 */
export function sanitizeTerminal(text: string): string {
  return String(text).replace(SGR, "").replace(UNSAFE, escaped);
}

/**
 * JSON text for a terminal: JSON.stringify escapes C0 controls; C1 and bidi controls are
 * escaped too (`\u009b`, `\u202e`), which JSON reads back as the same string.
 */
export function jsonText(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent).replace(
    UNSAFE_IN_JSON,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
