// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.

/**
 * Adds `data` to a running 32-bit accumulator as big-endian 16-bit words. A trailing odd byte is
 * padded with zero, so only the last chunk of a message may have an odd length.
 */
export function sumWords(data: Uint8Array, accumulator = 0): number {
  let sum = accumulator;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) {
    sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  }
  if (even !== data.length) sum += (data[even] as number) << 8;
  // Fold often enough that the accumulator never leaves the safe integer range.
  return foldCarries(sum);
}

/** Folds carries into the low 16 bits (the ones' complement sum). */
export function foldCarries(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum to store for data (chunks concatenated, checksum field zeroed). */
export function internetChecksum(...chunks: Uint8Array[]): number {
  let sum = 0;
  for (const chunk of chunks) sum = sumWords(chunk, sum);
  return ~foldCarries(sum) & 0xffff;
}

/** True when the chunks, checksum field included, sum to ones' complement zero (0xffff). */
export function verifyInternetChecksum(...chunks: Uint8Array[]): boolean {
  let sum = 0;
  for (const chunk of chunks) sum = sumWords(chunk, sum);
  return foldCarries(sum) === 0xffff;
}
