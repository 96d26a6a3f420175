#!/usr/bin/env node
// Regenerates the captures in this folder: the first bytes real clients and servers send on a
// fresh TCP connection, on loopback, with the tool named in each file's header.
//
//   node test/bpf/testdata/capture.mjs [name...]
//
// Client captures: a TCP listener on a random port records what the first connection sends.
// `<name>.hex` holds the first chunk read (on loopback, the client's first write: what a
// cgroup_skb program sees as the first payload of that direction); `<name>-stream.hex`, where
// written, everything the client sent in the first 400 ms. Server captures: a raw client
// connects (and sends a captured request where the server waits for one) and records the reply.
//
// Some tools are not part of tcpotel's dependencies: redis-cli (Debian redis-tools), dig
// (bind9-dnsutils), mosquitto_pub (mosquitto-clients), and the npm packages mongodb, amqplib,
// kafkajs and mysql2, installed in a scratch folder given by CAPTURE_NODE_MODULES. A capture
// whose tool is missing is skipped with a message; the committed files stay as they are.
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const extra = process.env.CAPTURE_NODE_MODULES;
const requireExtra = extra ? createRequire(join(extra, 'package.json')) : undefined;
const requireRoot = createRequire(join(root, 'package.json'));

function hexLines(buf) {
  const h = buf.toString('hex');
  const out = [];
  for (let i = 0; i < h.length; i += 64) out.push(h.slice(i, i + 64));
  return out.join('\n');
}

function save(name, how, buf) {
  const text = `# ${name}: ${buf.length} bytes\n# ${how}\n${hexLines(buf)}\n`;
  writeFileSync(join(here, `${name}.hex`), text);
  console.log(`${name}: ${buf.length} bytes`);
}

/** Listens on a random port; resolves with the chunks the first connection sent, once it is idle for `idleMs`. */
function sink(idleMs = 400, reply) {
  let resolveChunks;
  const got = new Promise((r) => (resolveChunks = r));
  const server = net.createServer((sock) => {
    const chunks = [];
    let timer;
    const finish = () => {
      clearTimeout(timer);
      resolveChunks(chunks);
      sock.destroy();
      server.close();
    };
    sock.on('data', (d) => {
      chunks.push(Buffer.from(d));
      if (reply) reply(sock, chunks);
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    });
    sock.on('end', finish);
    sock.on('error', finish);
    timer = setTimeout(finish, idleMs * 5);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port, chunks: got, server })),
  );
}

/** Answers an HTTP/2 client's preface once: an empty SETTINGS frame and a SETTINGS ack. */
function h2SettingsOnce(sock, chunks) {
  if (chunks.length === 1) sock.write(Buffer.from('000000040000000000' + '000000040100000000', 'hex'));
}

function run(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'ignore'] });
  child.on('error', () => {});
  return child;
}

function have(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function clientCapture(name, how, start, { stream = false, idleMs, reply } = {}) {
  const s = await sink(idleMs, reply);
  const stop = await start(s.port);
  const chunks = await s.chunks;
  try {
    stop?.();
  } catch {}
  if (!chunks.length) throw new Error(`${name}: the client sent nothing`);
  save(name, how, chunks[0]);
  if (stream) save(`${name}-stream`, `${how} (all it sent in its first 400 ms, ${chunks.length} reads)`, Buffer.concat(chunks));
}

/** Connects to a server at `port`, sends `request` (if any), resolves with the first chunk received. */
function serverReply(port, request) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => request && sock.write(request));
    sock.once('data', (d) => {
      resolve(Buffer.from(d));
      sock.destroy();
    });
    sock.on('error', reject);
  });
}

function listen(server) {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
}

const captures = {
  'http-node-get': () =>
    clientCapture('http-node-get', "Node 20 http.get('http://127.0.0.1:<port>/items?id=7')", (port) => {
      const req = http.get(`http://127.0.0.1:${port}/items?id=7`);
      req.on('error', () => {});
      return () => req.destroy();
    }),
  'http-node-post-host': () =>
    clientCapture(
      'http-node-post-host',
      "Node 20 http.request({ method: 'POST', host: '127.0.0.1', headers: { host: 'API.Example.test:8443', 'content-type': 'application/json' } }) with a JSON body",
      (port) => {
        const req = http.request({ method: 'POST', host: '127.0.0.1', port, path: '/v1/orders', headers: { host: 'API.Example.test:8443', 'content-type': 'application/json' } });
        req.on('error', () => {});
        req.end('{"id":1}');
        return () => req.destroy();
      },
    ),
  'http-node-get-v6': () =>
    new Promise((resolve, reject) => {
      // The same GET over IPv6: Node writes the Host header as [::1]:<port>.
      const server = net.createServer((sock) =>
        sock.once('data', (d) => {
          save('http-node-get-v6', "Node 20 http.get('http://[::1]:<port>/') over IPv6", Buffer.from(d));
          sock.destroy();
          server.close();
          resolve();
        }),
      );
      server.on('error', reject);
      server.listen(0, '::1', () => {
        const req = http.get(`http://[::1]:${server.address().port}/`);
        req.on('error', () => {});
      });
    }),
  'http-curl-get': () =>
    have('curl') &&
    clientCapture('http-curl-get', 'curl -s http://localhost:<port>/health', (port) => {
      const c = run('curl', ['-s', '--max-time', '2', `http://localhost:${port}/health`]);
      return () => c.kill();
    }),
  'http-node-response': async () => {
    const server = http.createServer((req, res) => res.end('hello\n'));
    const port = await listen(server);
    const reply = await serverReply(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    server.close();
    save('http-node-response', "Node 20 http.createServer((req, res) => res.end('hello\\n')): its reply to a GET", reply);
  },
  'http2-node': () =>
    clientCapture(
      'http2-node',
      "Node 20 http2.connect('http://127.0.0.1:<port>').request({ ':path': '/' }) (the server never answers)",
      (port) => {
        const session = http2.connect(`http://127.0.0.1:${port}`);
        session.on('error', () => {});
        const req = session.request({ ':path': '/' });
        req.on('error', () => {});
        return () => session.destroy();
      },
      { stream: true },
    ),
  'grpc-js': () =>
    clientCapture(
      'grpc-js',
      "@grpc/grpc-js (tcpotel's dependency) Client.makeUnaryRequest('/demo.Echo/Say') to 127.0.0.1:<port>, insecure (the listener answers the preface with an empty SETTINGS frame and a SETTINGS ack, nothing more)",
      (port) => {
        const grpc = requireRoot('@grpc/grpc-js');
        const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        client.makeUnaryRequest('/demo.Echo/Say', (x) => x, (x) => x, Buffer.from('hi'), () => {});
        return () => client.close();
      },
      { stream: true, reply: h2SettingsOnce },
    ),
  'tls-node-clienthello': () =>
    clientCapture('tls-node-clienthello', "Node 20 tls.connect({ host: '127.0.0.1', servername: 'db.example.test' })", (port) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'db.example.test', rejectUnauthorized: false });
      s.on('error', () => {});
      return () => s.destroy();
    }),
  'tls-openssl-clienthello': () =>
    clientCapture('tls-openssl-clienthello', 'openssl s_client -connect 127.0.0.1:<port> -servername db.example.test (OpenSSL 3.0)', (port) => {
      const c = run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'db.example.test']);
      return () => c.kill();
    }),
  'tls12-openssl-clienthello': () =>
    clientCapture('tls12-openssl-clienthello', 'openssl s_client -tls1_2 -connect 127.0.0.1:<port> -servername db.example.test (OpenSSL 3.0)', (port) => {
      const c = run('openssl', ['s_client', '-tls1_2', '-connect', `127.0.0.1:${port}`, '-servername', 'db.example.test']);
      return () => c.kill();
    }),
  'tls-node-serverhello': async () => {
    const dir = execFileSync('mktemp', ['-d']).toString().trim();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`, '-days', '1', '-subj', '/CN=db.example.test'], { stdio: 'ignore' });
    const server = tls.createServer({ key: readFileSync(`${dir}/k.pem`), cert: readFileSync(`${dir}/c.pem`) });
    server.on('tlsClientError', () => {});
    const port = await listen(server);
    const hello = Buffer.from(readFileSync(join(here, 'tls-node-clienthello.hex'), 'utf8').split('\n').filter((l) => !l.startsWith('#')).join(''), 'hex');
    const reply = await serverReply(port, hello);
    server.close();
    save('tls-node-serverhello', "Node 20 tls.createServer (self-signed EC certificate): its reply to tls-node-clienthello's ClientHello", reply);
  },
  'ssh-openssh-banner': () =>
    clientCapture('ssh-openssh-banner', 'ssh -p <port> -o BatchMode=yes test@127.0.0.1 (OpenSSH 9.2 client; it sends its banner first)', (port) => {
      const c = run('ssh', ['-p', String(port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', 'test@127.0.0.1']);
      return () => c.kill();
    }),
  'postgresql-psql-startup': () =>
    clientCapture('postgresql-psql-startup', "psql 'host=127.0.0.1 port=<port> user=app dbname=shop sslmode=disable gssencmode=disable' (psql 15)", (port) => {
      const c = run('psql', [`host=127.0.0.1 port=${port} user=app dbname=shop sslmode=disable gssencmode=disable connect_timeout=2`, '-c', 'select 1']);
      return () => c.kill();
    }),
  'postgresql-psql-sslrequest': () =>
    clientCapture('postgresql-psql-sslrequest', "psql 'host=127.0.0.1 port=<port> user=app dbname=shop sslmode=prefer gssencmode=disable' (psql 15)", (port) => {
      const c = run('psql', [`host=127.0.0.1 port=${port} user=app dbname=shop sslmode=prefer gssencmode=disable connect_timeout=2`, '-c', 'select 1']);
      return () => c.kill();
    }),
  'redis-cli-ping': () =>
    have('redis-cli') &&
    clientCapture('redis-cli-ping', 'redis-cli -h 127.0.0.1 -p <port> PING (redis-tools 7.0)', (port) => {
      const c = run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING']);
      return () => c.kill();
    }),
  'dns-dig-tcp': () =>
    have('dig') &&
    clientCapture('dns-dig-tcp', 'dig +tcp +tries=1 +time=1 @127.0.0.1 -p <port> db.example.test A (BIND 9.18)', (port) => {
      const c = run('dig', ['+tcp', '+tries=1', '+time=1', '@127.0.0.1', '-p', String(port), 'db.example.test', 'A']);
      return () => c.kill();
    }),
  'mqtt-mosquitto-v311': () =>
    have('mosquitto_pub') &&
    clientCapture('mqtt-mosquitto-v311', 'mosquitto_pub -h 127.0.0.1 -p <port> -V mqttv311 -i sensor-1 -t t -m x (mosquitto 2.0)', (port) => {
      const c = run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-i', 'sensor-1', '-t', 't', '-m', 'x']);
      return () => c.kill();
    }),
  'mqtt-mosquitto-v31': () =>
    have('mosquitto_pub') &&
    clientCapture('mqtt-mosquitto-v31', 'mosquitto_pub -h 127.0.0.1 -p <port> -V mqttv31 -i sensor-1 -t t -m x (mosquitto 2.0: MQIsdp)', (port) => {
      const c = run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv31', '-i', 'sensor-1', '-t', 't', '-m', 'x']);
      return () => c.kill();
    }),
  'mqtt-mosquitto-v5': () =>
    have('mosquitto_pub') &&
    clientCapture('mqtt-mosquitto-v5', 'mosquitto_pub -h 127.0.0.1 -p <port> -V mqttv5 -i sensor-1 -t t -m x (mosquitto 2.0)', (port) => {
      const c = run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-i', 'sensor-1', '-t', 't', '-m', 'x']);
      return () => c.kill();
    }),
  'mongodb-node-hello': () =>
    requireExtra &&
    clientCapture('mongodb-node-hello', "npm mongodb 7 MongoClient('mongodb://127.0.0.1:<port>/?directConnection=true').connect() (its handshake)", (port) => {
      const { MongoClient } = requireExtra('mongodb');
      const c = new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true&serverSelectionTimeoutMS=1500`);
      c.connect().catch(() => {});
      return () => c.close().catch(() => {});
    }),
  'mongodb-node-hello-api': () =>
    requireExtra &&
    clientCapture('mongodb-node-hello-api', "npm mongodb 7 MongoClient(..., { serverApi: '1' }).connect() (handshake as OP_MSG)", (port) => {
      const { MongoClient } = requireExtra('mongodb');
      const c = new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true&serverSelectionTimeoutMS=1500`, { serverApi: '1' });
      c.connect().catch(() => {});
      return () => c.close().catch(() => {});
    }),
  'amqp-amqplib': () =>
    requireExtra &&
    clientCapture('amqp-amqplib', "npm amqplib 2.3 connect('amqp://127.0.0.1:<port>') (AMQP 0-9-1 protocol header)", (port) => {
      const amqp = requireExtra('amqplib');
      amqp.connect(`amqp://127.0.0.1:${port}`).catch(() => {});
    }),
  'kafka-kafkajs': () =>
    requireExtra &&
    clientCapture('kafka-kafkajs', "npm kafkajs 2.2 new Kafka({ clientId: 'orders-svc', brokers: ['127.0.0.1:<port>'] }).producer().connect() (ApiVersions request)", (port) => {
      const { Kafka, logLevel } = requireExtra('kafkajs');
      const k = new Kafka({ clientId: 'orders-svc', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
      const p = k.producer();
      p.connect().catch(() => {});
      return () => p.disconnect().catch(() => {});
    }),
  'mysql-mysql2-greeting': async () => {
    if (!requireExtra) return;
    const mysql = requireExtra('mysql2');
    const server = mysql.createServer();
    server.on('connection', (conn) => {
      conn.serverHandshake({ protocolVersion: 10, serverVersion: '8.0.36', connectionId: 1234, statusFlags: 2, characterSet: 8, capabilityFlags: 0xffffff });
      conn.on('error', () => {});
    });
    const port = await new Promise((r) => server.listen(0, '127.0.0.1', () => r(server._server.address().port)));
    const reply = await serverReply(port);
    server.close();
    save('mysql-mysql2-greeting', "npm mysql2 3 createServer() with conn.serverHandshake({ protocolVersion: 10, serverVersion: '8.0.36' }): the greeting a client reads", reply);
  },
};

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(captures);
for (const name of names) {
  if (!captures[name]) throw new Error(`no capture named ${name}`);
  try {
    const r = await captures[name]();
    if (r === false || r === undefined) {
      if (!existsSync(join(here, `${name}.hex`))) console.log(`${name}: skipped (tool missing)`);
    }
  } catch (e) {
    console.log(`${name}: failed: ${e.message}`);
  }
}
process.exit(0);
