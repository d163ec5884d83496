// The apps in the interception test: an HTTP server answering with who it is,
// who called it and the headers it got (JSON), and a raw TCP echo for opaque
// traffic. Reports its port on stdout as a JSON line.
import http from 'node:http';
import net from 'node:net';

const [kind, name, host] = process.argv.slice(2);
const server =
  kind === 'tcp'
    ? net.createServer((s) => s.once('data', (d) => s.end(`${name} echoed ${d.toString().trim()} from ${s.remoteAddress}\n`)))
    : http.createServer((req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ app: name, method: req.method, url: req.url, from: req.socket.remoteAddress, headers: req.headers }));
      });
server.listen(0, host, () => process.stdout.write(JSON.stringify({ event: 'listening', port: server.address().port }) + '\n'));
