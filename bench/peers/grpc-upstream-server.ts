// The gRPC upstream of the bench's gRPC paths (run as its own process, pinned
// to the client core): a unary method over h2c answering every call with one
// length-prefixed protobuf message (field 1 = 1 KiB of bytes, the size of the
// HTTP paths' bodies) and the trailers a gRPC client requires (grpc-status 0).
// Not in Debian, and nginx's `return` cannot send trailers, so node:http2.
// argv[2] = port. Prints "listening" once bound.
import http2 from 'node:http2';
import { grpcResponseBody } from './grpc-response.js';

const BODY = grpcResponseBody();
const HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const TRAILERS = { 'grpc-status': '0' };

function sendTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(TRAILERS);
}

function answer(this: http2.ServerHttp2Stream): void {
  if (this.destroyed) return;
  this.respond(HEADERS, { waitForTrailers: true });
  this.end(BODY);
}

const server = http2.createServer({ peerMaxConcurrentStreams: 1000 });
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  if (headers[':method'] !== 'POST' || !String(headers['content-type'] ?? '').startsWith('application/grpc')) {
    stream.respond({ ':status': 415 }, { endStream: true });
    return;
  }
  stream.on('wantTrailers', sendTrailers);
  stream.on('data', () => {});
  stream.on('end', answer);
});
server.on('sessionError', () => {});
server.listen(Number(process.argv[2]), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
