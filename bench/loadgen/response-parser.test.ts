// The generator's response framing must find every response end no matter how
// TCP splits the bytes, for both Content-Length and chunked bodies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResponseFramingError, ResponseParser } from './response-parser.js';

const fixed = (status: number, body: string): string => `HTTP/1.1 ${status} X\r\nContent-Type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const chunked = (status: number, parts: string[]): string =>
  `HTTP/1.1 ${status} X\r\nTransfer-Encoding: chunked\r\n\r\n` + parts.filter((p) => p.length).map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n';

function feedAll(bytes: Buffer, cuts: number[]): number[] {
  const p = new ResponseParser();
  const seen: number[] = [];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let at = 0;
  for (const c of [...points, bytes.length]) {
    if (c > at) p.feed(bytes.subarray(at, c), (s) => seen.push(s));
    at = Math.max(at, c);
  }
  return seen;
}

describe('ResponseParser', () => {
  it('frames pipelined Content-Length and chunked responses however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(200, 201, 404, 503), fc.boolean(), fc.array(fc.string({ maxLength: 40 }), { maxLength: 4 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (responses, cuts) => {
          const text = responses.map(([s, isChunked, parts]) => (isChunked ? chunked(s, parts) : fixed(s, parts.join('')))).join('');
          expect(feedAll(Buffer.from(text), cuts)).toEqual(responses.map(([s]) => s));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('treats 204 without a length as complete and refuses unframed bodies', () => {
    expect(feedAll(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), [])).toEqual([204]);
    expect(() => feedAll(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'), [])).toThrow(ResponseFramingError);
  });
});
