// One request through a freshly started path before it is measured, so a
// misconfigured path is reported as "not measured: <why>" instead of as a
// run full of errors.
import http from 'node:http';
import http2 from 'node:http2';
import { BENCH_HOST, BODY_BYTES } from '../peers/types.js';

export function probeHttp1(port: number, timeoutMs = 10_000): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs, headers: { host: BENCH_HOST } }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      const meshError = res.headers['x-tsmesh-error'];
      res.on('end', () =>
        resolve(res.statusCode === 200 && n === BODY_BYTES ? null : `probe got HTTP ${res.statusCode} with ${n} body bytes${meshError ? ` (x-tsmesh-error: ${String(meshError)})` : ''}`),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve(`probe request failed: ${e.message}`));
  });
}

export function probeHttp2(port: number, timeoutMs = 5000): Promise<string | null> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      resolve(`no HTTP/2 response within ${timeoutMs} ms`);
    }, timeoutMs);
    const done = (why: string | null): void => {
      clearTimeout(timer);
      session.close();
      resolve(why);
    };
    session.on('error', (e) => done(`HTTP/2 probe failed: ${e.message}`));
    const req = session.request({ ':path': '/', ':authority': BENCH_HOST });
    let status = 0;
    let n = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => done(status === 200 && n === BODY_BYTES ? null : `HTTP/2 probe got ${status} with ${n} body bytes`));
    req.on('error', (e) => done(`HTTP/2 probe failed: ${e.message}`));
    req.end();
  });
}
