/**
 * Run by test/acceptance/sockdiag.test.ts as an unprivileged user (setpriv): the sockdiag
 * receiver dumps this process's own connections, and one to a root-owned sink whose far end
 * it cannot attribute. Prints one JSON line: who it ran as, the events for its ports, and
 * what sockdiagLookup found.
 *
 *   node unprivileged.js <port of a sink on 127.0.0.1> <bytes>
 */
import { readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { SockdiagReceiver } from '../../../src/receivers/sockdiag/sockdiag.js';
import { defaultSockdiagConfig, sockdiagConfigSchema } from '../../../src/receivers/sockdiag/config.js';
import { decodeDump, encodeSockets } from '../../../src/receivers/sockdiag/record.js';
import { loadSockdiag } from '../../../src/native/addon.js';
import type { TcpEvent } from '../../../src/core/events.js';
import { testContext } from '../../support/context.js';

const [sinkPortText, bytesText = '1000'] = process.argv.slice(2);
if (!sinkPortText) {
  // not a test by itself (a test runner globbing test/** may start it): nothing to do
  process.stdout.write('usage: node unprivileged.js <port of a sink on 127.0.0.1> <bytes>\n');
  process.exit(0);
}
const sinkPort = Number(sinkPortText);
const bytes = Number(bytesText);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';

const rx = new SockdiagReceiver(sockdiagConfigSchema.parse({ ...defaultSockdiagConfig(), poll_interval: '50ms' }), testContext('sockdiag', 'receiver'));
const events: TcpEvent[] = [];
rx.output.subscribe((b) => events.push(...b.events));
await rx.start();

// Our own server and client: both ends are ours.
const accepted: Socket[] = [];
const server = createServer((s) => {
  accepted.push(s);
  s.resume();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const serverPort = (server.address() as AddressInfo).port;
const open = (port: number, host: string) =>
  new Promise<Socket>((resolve, reject) => {
    const c = connect(port, host, () => resolve(c));
    c.once('error', reject);
  });
const own = await open(serverPort, '127.0.0.1');
const toRoot = await open(sinkPort, '127.0.0.1');
const ownPort = own.localPort!;
const toRootPort = toRoot.localPort!;
await new Promise<void>((r) => own.write(Buffer.alloc(bytes), () => r()));
await new Promise<void>((r) => toRoot.write(Buffer.alloc(bytes * 2), () => r()));
await sleep(300); // idle for several polls

// Look a live socket up by tuple and cookie, and with a wrong cookie.
const native = loadSockdiag();
const live = decodeDump(native.sockdiagDump([4, 6])).find((s) => s.localPort === ownPort && s.remotePort === serverPort)!;
const found = decodeDump(native.sockdiagLookup(encodeSockets([live]))).map((s) => s.cookie);
const wrong = decodeDump(native.sockdiagLookup(encodeSockets([{ ...live, localAddress: live.localAddress, remoteAddress: live.remoteAddress, cookie: live.cookie + 1e6 }]))).length;

own.end();
toRoot.end();
await sleep(100);
for (const s of accepted) s.end();
server.close();
await sleep(300);
await rx.shutdown();

const pairs = [
  [ownPort, serverPort],
  [toRootPort, sinkPort],
];
const mine = events.filter(
  (e) => e.localAddress === '127.0.0.1' && e.remoteAddress === '127.0.0.1' && pairs.some(([a, b]) => (e.localPort === a && e.remotePort === b) || (e.localPort === b && e.remotePort === a)),
);
process.stdout.write(
  JSON.stringify({
    uid: process.getuid?.(),
    capEff,
    pid: process.pid,
    serverPort,
    ownPort,
    toRootPort,
    lookup: { cookie: live.cookie, found, wrong },
    events: mine.map((e) => ({ kind: e.kind, socketId: e.socketId, localPort: e.localPort, remotePort: e.remotePort, direction: e.direction, pid: e.pid, comm: e.comm, bytesSent: e.bytesSent, bytesReceived: e.bytesReceived })),
  }) + '\n',
);
