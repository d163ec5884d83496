// The mutating admission webhook's HTTPS server. POST /inject takes an
// AdmissionReview v1 and answers with the injection patch; GET /healthz for
// probes. Bodies are bounded and slow clients are cut off.

import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from '../../common/log.js';
import type { InjectOptions } from '../inject/options.js';
import { BadReviewError, readReview, reviewPod } from './review.js';

export const WEBHOOK_PATH = '/inject';
/** The API server caps object size at ~1.5 MiB; an AdmissionReview carries the object (and oldObject). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface WebhookServerOptions {
  certPem: string;
  keyPem: string;
  inject?: Partial<InjectOptions>;
  host?: string;
  port?: number;
  maxBodyBytes?: number;
  /** Whole-request deadline; the API server's own webhook timeout is 10 s by default. */
  requestTimeoutMs?: number;
  logger?: Logger;
}

export interface WebhookServer {
  readonly port: number;
  /** Swap the serving certificate (rotation) without restarting. */
  setCertificate(certPem: string, keyPem: string): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return resolve('too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        resolve('too-large');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const log = opts.logger ?? silentLogger;
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'ok\n', 'text/plain');
    if (path !== WEBHOOK_PATH) return send(res, 404, JSON.stringify({ error: `no handler for ${path}` }));
    if (req.method !== 'POST') return send(res, 405, JSON.stringify({ error: 'POST an AdmissionReview' }));
    if (!/^application\/json\b/.test(String(req.headers['content-type'] ?? ''))) return send(res, 415, JSON.stringify({ error: 'content-type must be application/json' }));
    const body = await readBody(req, limit);
    if (body === 'too-large') return send(res, 413, JSON.stringify({ error: `AdmissionReview larger than ${limit} bytes` }));
    let review;
    try {
      review = readReview(JSON.parse(body.toString('utf8')));
    } catch (err) {
      const msg = err instanceof BadReviewError ? err.message : `invalid JSON: ${(err as Error).message}`;
      return send(res, 400, JSON.stringify({ error: msg }));
    }
    const outcomes: Parameters<typeof reviewPod>[3] = [];
    const out = reviewPod(review.uid, review.request, opts.inject ?? {}, outcomes);
    const ns = review.request.namespace;
    for (const o of outcomes) log.info('admission', { uid: review.uid, namespace: ns, pod: o.name, action: o.action, reason: o.reason });
    for (const w of out.response.warnings ?? []) log.warn('admission warning', { uid: review.uid, namespace: ns, warning: w });
    send(res, 200, JSON.stringify(out));
  };
  const server = https.createServer(
    { cert: opts.certPem, key: opts.keyPem, minVersion: 'TLSv1.2', requestTimeout: opts.requestTimeoutMs ?? 10_000, headersTimeout: 5_000 },
    (req, res) => {
      handle(req, res).catch((err) => {
        log.error('webhook handler failed', { err });
        if (!res.headersSent) send(res, 500, JSON.stringify({ error: 'internal error' }));
        else res.destroy();
      });
    },
  );
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    setCertificate: (certPem, keyPem) => server.setSecureContext({ cert: certPem, key: keyPem }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
