// The gRPC upstream's one answer, shared with the probe that checks a path returns it whole.
import { BODY_BYTES } from './types.js';

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** gRPC frame (compressed flag 0, 4-byte length) around the protobuf message `{ 1: bytes(BODY_BYTES) }`. */
export function grpcResponseBody(): Buffer {
  const msg = Buffer.concat([Buffer.from([0x0a, ...varint(BODY_BYTES)]), Buffer.alloc(BODY_BYTES, 0x78)]);
  const f = Buffer.alloc(5 + msg.length);
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
}
