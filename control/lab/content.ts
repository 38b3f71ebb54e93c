// What every lab server serves besides its index: small.txt, a short text
// that names the server, and big.bin, BIG_FILE_SIZE bytes from a seeded
// generator. big.bin is the same bytes on every server and in every run, so a
// download's sha256 proves it arrived whole whichever server sent it.

/** Size of the deterministic download every server offers at /big.bin. */
export const BIG_FILE_SIZE = 10 * 1024 * 1024;
const BIG_FILE_SEED = 0x6261746f; // "bato"

export function small_text(id: number): string {
  const line = `baton lab small object from server ${id}. `;
  return (line + "x".repeat(100)).slice(0, 99) + "\n";
}

/** 10 MiB from a seeded xorshift32: the same bytes on every server and every run. */
export function big_file_bytes(): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(BIG_FILE_SIZE);
  const view = new DataView(bytes.buffer);
  let x = BIG_FILE_SEED;
  for (let offset = 0; offset < BIG_FILE_SIZE; offset += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view.setUint32(offset, x >>> 0, true);
  }
  return bytes;
}
