// The closed-loop gRPC load shared by the bench and the profiler: h2load's
// request for a unary call, and the count of calls that really succeeded.
import fs from 'node:fs';
import path from 'node:path';
import { grpcFrame, protoBytesField } from '../loadgen/h2-session.js';
import { grpcResponseBody } from '../peers/grpc-response.js';
import type { ClosedLoopRun } from './measure.js';

/** h2load arguments for unary gRPC calls: POST of one framed message with the gRPC headers (the body file is written once). */
export function grpcRequest(dir: string): { path: string; args: string[] } {
  const file = path.join(dir, 'grpc-request.bin');
  if (!fs.existsSync(file)) fs.writeFileSync(file, grpcFrame(protoBytesField(Buffer.from('tsmesh-bench'))));
  return { path: '/bench.Echo/Call', args: ['-d', file, '-H', 'content-type: application/grpc', '-H', 'te: trailers'] };
}

/**
 * h2load counts any 2xx as success, but a failed gRPC call is a 200 with grpc-status ≠ 0 and no message
 * (trailers-only); so only calls whose whole response message arrived count, by the DATA bytes received.
 */
export function grpcMax(h: ClosedLoopRun): ClosedLoopRun {
  if (h.dataBytes === undefined || h.requests === 0) return { ...h, errors: h.errors + h.requests, requests: 0, requestsPerSec: 0 };
  const ok = Math.min(h.requests, Math.floor(h.dataBytes / grpcResponseBody().length));
  return { ...h, requests: ok, requestsPerSec: Math.round((h.requestsPerSec * ok) / h.requests), errors: h.errors + (h.requests - ok) };
}
