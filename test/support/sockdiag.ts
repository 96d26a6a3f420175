import { TCP, type DiagSocket } from '../../src/receivers/sockdiag/record.js';

/** A socket as a sock_diag dump shows it (raw kernel counters); established on loopback unless told. */
export function sock(o: Partial<DiagSocket> & { cookie: number }): DiagSocket {
  return {
    family: 4,
    state: TCP.ESTABLISHED,
    localAddress: '127.0.0.1',
    localPort: 40000 + o.cookie,
    remoteAddress: '127.0.0.1',
    remotePort: 8080,
    inode: 0,
    uid: 1000,
    hasInfo: true,
    bytesAcked: 0,
    bytesReceived: 0,
    bytesRetrans: 0,
    segsIn: 1,
    segsOut: 1,
    totalRetrans: 0,
    rttUs: 50,
    ...o,
  };
}

/** A listening socket on `port`. */
export function listener(port: number, o: Partial<DiagSocket> = {}): DiagSocket {
  return sock({ cookie: 900000 + port, state: TCP.LISTEN, localPort: port, remotePort: 0, remoteAddress: '0.0.0.0', hasInfo: true, ...o });
}
