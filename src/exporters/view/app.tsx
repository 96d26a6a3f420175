/**
 * The live view: an Ink app that paints the lines `layoutScreen` computes from the model,
 * refreshes when a period completes (and at least every interval), and takes keys:
 *
 *   q, Ctrl+C  quit (a graceful stop of the whole service)
 *   p          pause / resume the display (data keeps being collected)
 *   /          type a filter (a substring of address:port, pid, command); Enter keeps it
 *   Esc        clear the filter
 *   s          next sort; b bytes, r rate, a age (also d, for duration), l loss
 *
 * It draws on the terminal's alternate screen, as top does, and prints the final summary
 * line on the normal screen when it stops.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { Box, Text, render, useInput, useStdin, useStdout, type Instance } from 'ink';
import type { Renderer, ViewSource } from './renderer.js';
import { layoutScreen, type Line, type Segment } from './format.js';
import { SORT_KEYS, type SortKey } from './snapshot.js';

export interface UiState {
  sort: SortKey;
  filter: string;
  editing: boolean;
  paused: boolean;
}

export type KeyAction = { type: 'quit' } | { type: 'state'; state: UiState } | { type: 'none' };

export interface KeyInfo {
  escape?: boolean;
  return?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  tab?: boolean;
}

/**
 * What input does to the UI state (pure, for tests). Several characters can arrive in one
 * read ("/:8080" typed fast, or pasted): they are applied one by one.
 */
export function handleInput(state: UiState, input: string, key: KeyInfo): KeyAction {
  const chars = [...input];
  if (chars.length <= 1 || key.ctrl || key.meta || key.escape) return handleKey(state, input, key);
  let cur = state;
  let changed = false;
  for (const ch of chars) {
    const k: KeyInfo = ch === '\r' || ch === '\n' ? { return: true } : ch === '\u007f' || ch === '\b' ? { backspace: true } : ch === '\u001b' ? { escape: true } : {};
    const a = handleKey(cur, Object.keys(k).length ? '' : ch, k);
    if (a.type === 'quit') return a;
    if (a.type === 'state') {
      cur = a.state;
      changed = true;
    }
  }
  return changed ? { type: 'state', state: cur } : { type: 'none' };
}

/** What one key press does to the UI state. */
export function handleKey(state: UiState, input: string, key: KeyInfo): KeyAction {
  if (key.ctrl && input === 'c') return { type: 'quit' };
  if (state.editing) {
    if (key.escape) return { type: 'state', state: { ...state, editing: false, filter: '' } };
    if (key.return) return { type: 'state', state: { ...state, editing: false } };
    if (key.backspace || key.delete) return { type: 'state', state: { ...state, filter: state.filter.slice(0, -1) } };
    if (key.ctrl || key.meta || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.tab) return { type: 'none' };
    // eslint-disable-next-line no-control-regex
    const printable = input.replace(/[\u0000-\u001f\u007f]/g, '');
    if (!printable) return { type: 'none' };
    return { type: 'state', state: { ...state, filter: state.filter + printable } };
  }
  if (key.escape) return state.filter ? { type: 'state', state: { ...state, filter: '' } } : { type: 'none' };
  switch (input) {
    case 'q':
      return { type: 'quit' };
    case 'p':
    case ' ':
      return { type: 'state', state: { ...state, paused: !state.paused } };
    case '/':
      return { type: 'state', state: { ...state, editing: true } };
    case 's':
      return { type: 'state', state: { ...state, sort: SORT_KEYS[(SORT_KEYS.indexOf(state.sort) + 1) % SORT_KEYS.length]! } };
    case 'b':
      return { type: 'state', state: { ...state, sort: 'bytes' } };
    case 'r':
      return { type: 'state', state: { ...state, sort: 'rate' } };
    case 'a':
    case 'd':
      return { type: 'state', state: { ...state, sort: 'age' } };
    case 'l':
      return { type: 'state', state: { ...state, sort: 'loss' } };
    default:
      return { type: 'none' };
  }
}

function Segments({ line }: { line: Line }) {
  if (line.length === 0) return <Text> </Text>;
  return (
    <Text wrap="truncate">
      {line.map((s: Segment, i: number) => (
        <Text key={i} color={s.color} bold={s.bold} dimColor={s.dim} inverse={s.inverse}>
          {s.text}
        </Text>
      ))}
    </Text>
  );
}

export function ViewApp({ hub }: { hub: ViewSource }) {
  const { stdout } = useStdout();
  const { isRawModeSupported } = useStdin();
  const [ui, setUi] = useState<UiState>({ sort: 'bytes', filter: '', editing: false, paused: false });
  const [size, setSize] = useState({ width: stdout.columns || 120, height: stdout.rows || 40 });
  const [version, setVersion] = useState(0);
  const [spin, setSpin] = useState(0);
  const paused = useRef(false);
  paused.current = ui.paused;

  useEffect(() => {
    const onResize = () => setSize({ width: stdout.columns || 120, height: stdout.rows || 40 });
    stdout.on('resize', onResize);
    return () => void stdout.off('resize', onResize);
  }, [stdout]);

  // Repaint when a period completes, and at least every interval (a logs-only view);
  // spin every 100 ms until the first metrics arrive. Paused: no repaints.
  useEffect(() => {
    let last = Date.now();
    const bump = () => {
      last = Date.now();
      if (!paused.current || hub.stopping) setVersion((v) => v + 1);
    };
    const unsubscribe = hub.subscribe(bump);
    const timer = setInterval(() => {
      if (!hub.model.ready) setSpin((t) => t + 1);
      if (Date.now() - last >= hub.config.interval) bump();
    }, Math.min(100, hub.config.interval));
    return () => {
      unsubscribe();
      clearInterval(timer);
    };
  }, [hub]);

  // Keys can arrive faster than renders: each one applies to the state the previous left.
  const current = useRef(ui);
  useInput(
    (input, key) => {
      const action = handleInput(current.current, input, key);
      if (action.type === 'quit') hub.quit();
      else if (action.type === 'state') {
        current.current = action.state;
        setUi(action.state);
      }
    },
    { isActive: isRawModeSupported === true },
  );

  // Sort and filter changes repaint with current data, even when paused.
  const snap = useMemo(() => hub.model.snapshot({ sort: ui.sort, filter: ui.filter, recentLimit: 100 }), [hub, version, ui.sort, ui.filter]);
  const lines = layoutScreen(snap, {
    width: size.width,
    height: size.height,
    intervalMs: hub.config.interval,
    top: hub.config.top,
    paused: ui.paused,
    editing: ui.editing,
    status: hub.status(),
    tick: spin,
  });
  if (hub.stopping) lines[0] = [{ text: ' tcpotel   stopping: flushing exporters and detaching the BPF programs…'.padEnd(size.width).slice(0, size.width), inverse: true, bold: true }];
  return (
    <Box flexDirection="column">
      {lines.map((l, i) => (
        <Segments key={i} line={l} />
      ))}
    </Box>
  );
}

const ENTER_ALT = '\u001b[?1049h\u001b[H';
const LEAVE_ALT = '\u001b[?1049l';

/** Starts the Ink app on stdout; stop() unmounts it and prints the final summary line. */
export async function startTty(hub: ViewSource): Promise<Renderer> {
  const stdout = process.stdout;
  const alt = stdout.isTTY === true;
  if (alt) stdout.write(ENTER_ALT);
  const instance: Instance = render(<ViewApp hub={hub} />, { stdout, exitOnCtrlC: false, patchConsole: true, maxFps: 20 });
  let stopped = false;
  return {
    update() {
      /* the app subscribes to the hub */
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      instance.unmount();
      await instance.waitUntilExit().catch(() => undefined);
      instance.cleanup();
      if (alt) stdout.write(LEAVE_ALT);
      const line = hub.finalLine();
      if (line) stdout.write(line + '\n');
    },
  };
}
