// The apps in the interception test: an HTTP server answering with who it is,
// who called it and the headers it got (JSON) — over TLS for kind `https`
// (certificate and key from the files in TLS_CERT / TLS_KEY; it also reports
// the SNI it was asked for) — and a raw TCP echo for opaque traffic. Reports
// its port on stdout as a JSON line.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

const [kind, name, host] = process.argv.slice(2);
const answer = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ app: name, method: req.method, url: req.url, from: req.socket.remoteAddress, sni: req.socket.servername, headers: req.headers }));
};
const server =
  kind === 'tcp'
    ? net.createServer((s) => s.once('data', (d) => s.end(`${name} echoed ${d.toString().trim()} from ${s.remoteAddress}\n`)))
    : kind === 'https'
      ? https.createServer({ cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }, answer)
      : http.createServer(answer);
server.listen(0, host, () => process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port }) + '\n'));
