// The floors of a proxy written on Node, measured beside tsmesh so its own
// overhead above Node's is visible:
//   http — node:http server + keep-alive http.Agent: parse, forward, stream
//          back, with no routing, policies or telemetry;
//   tcp  — a byte relay between two sockets (one upstream connection per
//          client connection): no HTTP at all, the least any Node proxy pays
//          per request for its reads, writes and event-loop wake-ups;
//   h2   — node:http2 in and out (h2c, one upstream session): each stream
//          forwarded with its body and trailers, what a gRPC hop costs on
//          Node's HTTP/2 (nghttp2 in C++, a JavaScript stream per request)
//          before any routing.
// Usage: node node-floor-proxy.js <listenPort> <upstreamPort> [http|tcp|h2]
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2, 4).map(Number);
const mode = process.argv[4] ?? 'http';

function httpFloor(): http.Server {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
    const up = http.request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
}

function tcpFloor(): net.Server {
  return net.createServer((client) => {
    const up = net.connect(upstreamPort!, '127.0.0.1');
    client.setNoDelay(true);
    up.setNoDelay(true);
    client.on('data', (d) => up.write(d));
    up.on('data', (d) => client.write(d));
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.on('error', () => {});
    up.on('error', () => {});
  });
}

function h2Floor(): http2.Http2Server {
  let upstream: http2.ClientHttp2Session | undefined;
  const session = (): http2.ClientHttp2Session => {
    if (upstream === undefined || upstream.closed || upstream.destroyed) {
      upstream = http2.connect(`http://127.0.0.1:${upstreamPort}`);
      upstream.on('error', () => {});
    }
    return upstream;
  };
  const server = http2.createServer();
  server.on('sessionError', () => {}); // a load generator hanging up mid-stream
  server.on('stream', (stream, headers) => {
    const up = session().request(headers);
    let trailers: http2.IncomingHttpHeaders = {};
    // The client may have reset its stream by the time the upstream answers.
    up.on('response', (h) => void (stream.closed || stream.destroyed || stream.respond(h, { waitForTrailers: true })));
    up.on('trailers', (t) => (trailers = t));
    stream.on('wantTrailers', () => void (stream.closed || stream.destroyed || stream.sendTrailers(trailers)));
    stream.pipe(up);
    up.pipe(stream);
    up.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('error', () => up.close(http2.constants.NGHTTP2_CANCEL));
    stream.on('close', () => void (up.closed || up.close(http2.constants.NGHTTP2_CANCEL)));
  });
  return server;
}

const server: net.Server = mode === 'tcp' ? tcpFloor() : mode === 'h2' ? h2Floor() : httpFloor();
server.listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => {
  (server as http.Server).closeAllConnections?.();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
