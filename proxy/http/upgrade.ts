// HTTP/1.1 Upgrade (WebSocket) passthrough: the request goes upstream with
// its Upgrade header; after the upstream's 101 the two raw sockets are piped
// to each other and the proxy only counts bytes.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HttpChain } from './http-chain.js';
import { pickCluster } from '../router/route-table.js';
import type { UpstreamHost } from '../upstream/cluster-manager.js';
import { LOCAL_REPLIES, classifyUpstreamError, type LocalReply } from './local-reply.js';
import { isHopByHop } from './headers.js';

function rawReply(socket: Duplex, reply: LocalReply): void {
  const body = `${reply.message}\n`;
  socket.end(
    `HTTP/1.1 ${reply.status} ${reply.status === 404 ? 'Not Found' : reply.status === 504 ? 'Gateway Timeout' : 'Service Unavailable'}\r\n` +
      `content-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-tsmesh-error: ${reply.code}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export function handleUpgrade(chain: HttpChain, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => {});
  const authority = req.headers.host ?? '';
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const facts = {
    method: req.method ?? 'GET',
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    isGrpc: false,
    header: (n: string) => (n === ':method' ? req.method : n === ':authority' ? authority : (req.headers[n] as string | undefined)),
  };
  const route = chain.deps.routeTable()?.route(authority, facts);
  if (!route || !route.choices.length) return rawReply(socket, LOCAL_REPLIES.NO_ROUTE);
  const cluster = chain.deps.clusters.get(pickCluster(route).cluster);
  if (!cluster) return rawReply(socket, LOCAL_REPLIES.NO_CLUSTER);
  const host = cluster.lb.pick({}) as UpstreamHost | undefined;
  const dispatcher = host?.h1;
  if (!host || !dispatcher) return rawReply(socket, LOCAL_REPLIES.NO_HEALTHY_UPSTREAM);

  const headers: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const n = req.rawHeaders[i]!.toLowerCase();
    if (n === 'connection' || n === 'upgrade' || n === 'host') continue;
    if (isHopByHop(n)) continue;
    headers.push(n, req.rawHeaders[i + 1]!);
  }
  headers.push('host', route.hostRewrite ?? authority); // undici adds connection/upgrade itself
  const handler: Dispatcher.DispatchHandler = {
    onConnect() {},
    onHeaders(status, raw) {
      // Upstream refused the upgrade: relay its answer and close.
      let text = `HTTP/1.1 ${status} Upgrade Refused\r\n`;
      for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
      socket.write(text + 'connection: close\r\n\r\n');
      return true;
    },
    onData(chunk) {
      socket.write(chunk);
      return true;
    },
    onComplete() {
      socket.end();
    },
    onUpgrade(status, rawOrNull, upstream) {
      const raw = rawOrNull ?? [];
      let text = `HTTP/1.1 ${status} Switching Protocols\r\n`;
      for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
      socket.write(text + '\r\n');
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.pipe(socket);
      socket.pipe(upstream);
    },
    onError(err) {
      if (socket.writable) rawReply(socket, LOCAL_REPLIES[classifyUpstreamError(err)]);
    },
  };
  if (head.length) socket.unshift(head);
  dispatcher.dispatch({ path: url, method: req.method ?? 'GET', headers, upgrade: req.headers.upgrade ?? 'websocket', body: null }, handler);
}
