// Raw HTTP/2 for tests that must send what node:http2 would never send:
// frames built byte by byte (RFC 9113 §4.1) and header blocks of HPACK
// literals without indexing and without Huffman (RFC 7541 §6.2.2), so any
// name or value bytes — upper case, CR/LF, NUL, pseudo-headers out of place —
// reach the peer as written. Plus the two client moves those tests share.

import { connect, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id >>> 0, 5);
  return Buffer.concat([h, payload]);
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(first: number, n: number, v: number): number[] {
  const max = (1 << n) - 1;
  if (v < max) return [first | v];
  const out = [first | max];
  v -= max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

export function headerBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  for (const [n, v] of fields) {
    const nb = Buffer.from(n, 'latin1');
    const vb = Buffer.from(v, 'latin1');
    out.push(0x00, ...hpackInt(0, 7, nb.length), ...nb, ...hpackInt(0, 7, vb.length), ...vb);
  }
  return Buffer.from(out);
}

/** Frames parsed off a byte stream as they complete (the peer's preface is skipped when `preface`). */
export class FrameReader {
  private buf = Buffer.alloc(0);
  constructor(private awaitingPreface: boolean) {}
  push(d: Buffer, onFrame: (type: number, flags: number, id: number, payload: Buffer) => void): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (this.awaitingPreface) {
      if (this.buf.length < PREFACE.length) return;
      this.buf = this.buf.subarray(PREFACE.length);
      this.awaitingPreface = false;
    }
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      const type = this.buf[3]!;
      const flags = this.buf[4]!;
      const id = this.buf.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buf.subarray(9, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      onFrame(type, flags, id, payload);
    }
  }
}

/** Writes `bytes` in pieces (each split s takes s/256 of the whole), a loop turn apart, then the rest. */
export async function writeInSplits(sock: Socket, bytes: Buffer, splits: readonly number[]): Promise<void> {
  let at = 0;
  for (const s of splits) {
    if (at >= bytes.length || sock.destroyed) return;
    const n = Math.max(1, Math.floor((bytes.length * s) / 256));
    sock.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise((r) => setImmediate(r));
  }
  if (at < bytes.length && !sock.destroyed) sock.write(bytes.subarray(at));
}

/** One h2c GET on a connection of its own: the response status and headers once the body has ended. */
export function h2Get(port: number, path: string): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const c = connect(`http://127.0.0.1:${port}`);
    c.on('error', reject);
    const s = c.request({ ':path': path });
    s.on('response', (h) => {
      s.resume();
      s.on('end', () => {
        c.close();
        resolve({ status: Number(h[':status']), headers: h });
      });
    });
    s.on('error', reject);
    s.end();
  });
}

/** A raw TCP connection to 127.0.0.1:`port`, once connected; `closed()` says whether it has closed since. */
export async function rawConnection(port: number): Promise<{ sock: Socket; closed: () => boolean }> {
  const sock = netConnect(port, '127.0.0.1');
  sock.on('error', () => {});
  sock.on('data', () => {});
  let closed = false;
  sock.on('close', () => (closed = true));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  return { sock, closed: () => closed };
}
