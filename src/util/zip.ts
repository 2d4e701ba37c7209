/**
 * Reading the files of a zip archive (GitHub's Actions artifacts download as zip): the central
 * directory, then each entry stored or deflated (node:zlib). Enough for artifacts, no more: no
 * encryption, no zip64, no multi-disk. Throws a ZipError saying what is wrong.
 */
import { inflateRawSync } from 'node:zlib';

export class ZipError extends Error {}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_ENTRY = 0x02014b50;
const LOCAL_ENTRY = 0x04034b50;
/** Largest entry we inflate: artifacts of decisions are small; a zip bomb is refused. */
const MAX_ENTRY_BYTES = 64 * 1024 * 1024;
/** Largest sum of inflated entries: many entries each under the cap are a zip bomb too. */
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

/** Every file entry (directories skipped) by its name in the archive. */
export function readZipEntries(zip: Buffer): Map<string, Buffer> {
  // The end record sits in the last 22 + 65535 (comment) bytes.
  let end = -1;
  for (let offset = zip.length - 22; offset >= Math.max(0, zip.length - 22 - 0xffff); offset--) {
    if (zip.readUInt32LE(offset) === END_OF_CENTRAL_DIRECTORY) {
      end = offset;
      break;
    }
  }
  if (end < 0) throw new ZipError('not a zip archive (no end of central directory record)');
  const count = zip.readUInt16LE(end + 10);
  let cursor = zip.readUInt32LE(end + 16);
  const entries = new Map<string, Buffer>();
  let total = 0;
  for (let index = 0; index < count; index++) {
    if (cursor + 46 > zip.length || zip.readUInt32LE(cursor) !== CENTRAL_ENTRY) throw new ZipError(`damaged zip archive: central directory entry ${index} is missing`);
    const flags = zip.readUInt16LE(cursor + 8);
    const method = zip.readUInt16LE(cursor + 10);
    const compressedSize = zip.readUInt32LE(cursor + 20);
    const size = zip.readUInt32LE(cursor + 24);
    const nameLength = zip.readUInt16LE(cursor + 28);
    const extraLength = zip.readUInt16LE(cursor + 30);
    const commentLength = zip.readUInt16LE(cursor + 32);
    const localOffset = zip.readUInt32LE(cursor + 42);
    const name = zip.toString('utf8', cursor + 46, cursor + 46 + nameLength);
    cursor += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    if (flags & 1) throw new ZipError(`${name}: encrypted zip entries are not supported`);
    if (size > MAX_ENTRY_BYTES) throw new ZipError(`${name}: ${size} bytes is more than an artifact of decisions holds`);
    if (localOffset + 30 > zip.length || zip.readUInt32LE(localOffset) !== LOCAL_ENTRY) throw new ZipError(`${name}: damaged zip archive (local header missing)`);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    if (method !== 0 && method !== 8) throw new ZipError(`${name}: compression method ${method} is not supported (stored or deflate only)`);
    const room = Math.min(MAX_ENTRY_BYTES, MAX_TOTAL_BYTES - total);
    if (room < 1) throw new ZipError(`${name}: the archive holds more than ${MAX_TOTAL_BYTES} bytes in all, more than an artifact of decisions holds`);
    let content: Buffer;
    try {
      content = method === 0 ? Buffer.from(data) : inflateRawSync(data, { maxOutputLength: room });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new ZipError(`${name}: inflates past ${MAX_TOTAL_BYTES} bytes in all, more than an artifact of decisions holds`);
      throw new ZipError(`${name}: damaged deflate data (${(error as Error).message})`);
    }
    total += content.length;
    if (total > MAX_TOTAL_BYTES) throw new ZipError(`${name}: the archive holds more than ${MAX_TOTAL_BYTES} bytes in all, more than an artifact of decisions holds`);
    entries.set(name, content);
  }
  return entries;
}
