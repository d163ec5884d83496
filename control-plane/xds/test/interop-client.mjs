// Child process for the interop test: a third-party xDS client (@grpc/grpc-js-xds)
// resolves xds:///<target> through the control plane under test and makes one
// unary call. Prints the response, or the error, on stdout.
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';

xds.register();
const target = process.argv[2];
const client = new grpc.Client(`xds:///${target}`, grpc.credentials.createInsecure());
const id = (b) => b;
const deadline = Date.now() + 15000;
client.makeUnaryRequest('/tsmesh.test.Echo/Say', id, id, Buffer.from('interop'), { deadline }, (err, res) => {
  if (err) {
    process.stdout.write(`ERROR ${err.code} ${err.details}\n`);
    process.exit(1);
  }
  process.stdout.write(`OK ${res.toString()}\n`);
  client.close();
  process.exit(0);
});
