// Bytes and text as base64 and data: URLs. The page's CSP allows data: (images, and a download
// link's target) but not blob:, so anything the page hands the user as a file goes this way.

/** Bytes as base64; in chunks, since String.fromCharCode with one argument per byte overflows the stack on large inputs. */
export function bytesToBase64(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

/** Text as a data: URL of `type` in UTF-8 (base64: a third larger, where percent-encoding non-ASCII text is up to nine times). */
export function textDataUrl(text: string, type: string): string {
  return `data:${type};charset=utf-8;base64,${bytesToBase64(new TextEncoder().encode(text))}`
}
