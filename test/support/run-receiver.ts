/**
 * A process that runs the eBPF receiver until SIGTERM or SIGINT, for the detach tests.
 * Prints {"programs":[ids]} once attached.
 */
import { startEbpf } from './ebpf.js';

const r = await startEbpf({ snapshot: true, sample_interval: '1s' });
let stopping = false;
// The handlers before the line: the test signals as soon as it reads it.
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(1);
    stopping = true;
    void r.stop().then(() => process.exit(0));
  });
}
process.stdout.write(JSON.stringify({ programs: r.rx.programs().map((p) => p.id) }) + '\n');
setInterval(() => {}, 1 << 30);
