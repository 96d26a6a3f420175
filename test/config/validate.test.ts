/** What validation checks across components: the attributes processors read. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRegistry } from '../../src/components.js';
import { ConfigError, didYouMean, editDistance } from '../../src/config/errors.js';
import { parseConfigText } from '../../src/config/load.js';
import { resolveConfig, type ResolvedConfig } from '../../src/config/validate.js';

function resolve(yaml: string): ResolvedConfig {
  const { source, issues } = parseConfigText('t.yaml', yaml);
  assert.deepEqual(issues, []);
  return resolveConfig({ value: source.doc.toJS(), sources: [source], issues: [] }, defaultRegistry());
}

function errors(yaml: string): string[] {
  try {
    resolve(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
  }
  assert.fail('expected a ConfigError');
}

const pipeline = (processors: string) => `
receivers: {ebpf: {}}
exporters: {debug: {}}
service:
  pipelines:
    metrics: {receivers: [ebpf], processors: [${processors}], exporters: [debug]}
`;

test('aggregate keys: presets and attributes of the events pass; a typo fails with its place and a suggestion', () => {
  assert.deepEqual(resolve(`processors: {aggregate: {keys: [server, process.pid, network.protocol.name, tls.server.name]}}${pipeline('aggregate')}`).warnings, []);
  assert.deepEqual(resolve(`processors: {aggregate: {keys: five_tuple}}${pipeline('aggregate')}`).warnings, []);
  assert.deepEqual(errors(`processors:\n  aggregate:\n    keys: [five_tupel, proces.pid]${pipeline('aggregate')}`), [
    '3:12 processors::aggregate::keys::0: unknown attribute "five_tupel"; did you mean "five_tuple"? (write a preset (five_tuple, remote, remote_address, server, process, local_port, none) or an attribute of the events, see docs/reference.md#attributes)',
    '3:24 processors::aggregate::keys::1: unknown attribute "proces.pid"; did you mean "process.pid"? (write a preset (five_tuple, remote, remote_address, server, process, local_port, none) or an attribute of the events, see docs/reference.md#attributes)',
  ]);
  // Nothing close: no suggestion.
  assert.match(errors(`processors: {aggregate: {keys: [colour]}}${pipeline('aggregate')}`)[0]!, /unknown attribute "colour" \(write a preset/);
});

test('an aggregate used by two pipelines reports its bad key once', () => {
  const yaml = `
receivers: {ebpf: {}}
processors: {aggregate: {keys: [server.prot]}}
exporters: {debug: {}}
service:
  pipelines:
    metrics: {receivers: [ebpf], processors: [aggregate], exporters: [debug]}
    metrics/2: {receivers: [ebpf], processors: [aggregate], exporters: [debug]}
`;
  assert.equal(errors(yaml).length, 1);
});

test('attributes a processor sets are keys after it, not before it; process attributes without the process processor warn', () => {
  const attrs = `attributes: {actions: [{key: team, action: upsert, value: web}]}`;
  assert.deepEqual(resolve(`processors: {${attrs}, aggregate: {keys: [team, server]}}${pipeline('attributes, aggregate')}`).warnings, []);
  assert.match(errors(`processors: {${attrs}, aggregate: {keys: [team]}}${pipeline('aggregate, attributes')}`).join('\n'), /unknown attribute "team"/);
  assert.deepEqual(resolve(`processors: {process: {}, aggregate: {keys: [container.id, k8s.pod.uid]}}${pipeline('process, aggregate')}`).warnings, []);
  assert.deepEqual(resolve(`processors: {aggregate: {keys: [container.id]}}${pipeline('aggregate')}`).warnings, [
    'processors::aggregate::keys::0: "container.id" is missing from every event of pipeline metrics: only the "process" processor sets it, and none comes before "aggregate"',
  ]);
});

test('enumerated values: the value, the choices and the nearest one', () => {
  assert.deepEqual(errors(`processors: {filter: {include: {kinds: [opne]}}, aggregate: {}}${pipeline('filter, aggregate')}`), [
    '1:41 processors::filter::include::kinds::0: "opne" is not one of "open", "close", "failed", "retransmit", "reset", "state", "existing", "sample"; did you mean "open"?',
  ]);
  assert.deepEqual(errors(`processors: {aggregate: {pushdown: sometimes}}${pipeline('aggregate')}`), ['1:26 processors::aggregate::pushdown: "sometimes" is not one of "auto", "never"']);
});

test('edit distance counts a transposition as one edit', () => {
  assert.equal(editDistance('opne', 'open'), 1);
  assert.equal(editDistance('five_tupel', 'five_tuple'), 1);
  assert.equal(editDistance('abc', 'abc'), 0);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(didYouMean('detailled', ['basic', 'normal', 'detailed']), 'detailed');
  assert.equal(didYouMean('xyz', ['basic', 'normal']), undefined);
});
