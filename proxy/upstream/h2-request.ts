// Opening a stream on a node:http2 client session without Node's per-call
// AsyncResource#bind garbage.
//
// ClientHttp2Session#request (Node 20) wraps each stream's connect step in
// `new AsyncResource(...).bind(fn)`, and bind defines a deprecated
// `asyncResource` accessor pair on the bound function: two deprecate()
// wrappers, each given `fn` as its prototype with setPrototypeOf. V8 turns
// every such function into a prototype (a map copy and registry entries), and
// that garbage outlives the young generation: measured on the two-hop gRPC
// path (proxy/listener/PERFORMANCE.md, session 10), request() was half of all
// the bytes a sidecar promoted to the old generation, which set the pace of
// its mark-compacts (one every ~0.85 s at 1,000 calls/s, pauses of 3–8 ms that
// both sidecars' p99 paid).
//
// For the span of the synchronous request() call, AsyncResource#bind is a
// plain equivalent: the same async scope (runInAsyncScope, so async hooks and
// AsyncLocalStorage see what they saw before), the same `this` and arguments,
// without the deprecated accessor, which request() never reads. Restored
// before returning, whatever request() does.

import { AsyncResource } from 'node:async_hooks';
import type { ClientHttp2Session, ClientHttp2Stream, ClientSessionRequestOptions, OutgoingHttpHeaders } from 'node:http2';

type Bind = (this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown) => (...args: unknown[]) => unknown;

const proto = AsyncResource.prototype as unknown as { bind: Bind };
const nodeBind: Bind = proto.bind;

const leanBind: Bind = function (this: AsyncResource, fn, thisArg) {
  const resource = this;
  if (thisArg !== undefined) return (...args: unknown[]) => resource.runInAsyncScope(fn, thisArg, ...args);
  return function (this: unknown, ...args: unknown[]) {
    return resource.runInAsyncScope(fn, this, ...args);
  };
};

/** session.request(headers, options), with AsyncResource#bind lean for the call. */
export function requestStream(session: ClientHttp2Session, headers: OutgoingHttpHeaders, options: ClientSessionRequestOptions): ClientHttp2Stream {
  proto.bind = leanBind;
  try {
    return session.request(headers, options);
  } finally {
    proto.bind = nodeBind;
  }
}
