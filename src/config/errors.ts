import { UserFacingError } from '../core/errors.js';

export interface ConfigIssue {
  /** Collector-style path: "processors::aggregate/flows::window". */
  path: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.file ? `${i.file}${i.line ? `:${i.line}:${i.column ?? 1}` : ''}: ` : '';
  const path = i.path ? `${i.path}: ` : '';
  return `${where}${path}${i.message}`;
}

/** Every problem in a config at once; the CLI prints them and exits with code 2. */
export class ConfigError extends UserFacingError {
  override readonly name = 'ConfigError';
  constructor(readonly issues: ConfigIssue[]) {
    super(
      `invalid configuration (${issues.length} ${issues.length === 1 ? 'error' : 'errors'}):\n` + issues.map((i) => '  ' + formatIssue(i)).join('\n'),
      undefined,
      2,
    );
  }
}

/** Edit distance with adjacent transpositions ("opne" is one edit from "open"), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) dp[i]![j] = Math.min(dp[i]![j]!, dp[i - 2]![j - 2]! + 1);
    }
  }
  return dp[a.length]![b.length]!;
}

/** The closest candidate, when it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}

export function suggestion(word: string, candidates: Iterable<string>): string {
  const m = didYouMean(word, candidates);
  return m ? `; did you mean "${m}"?` : '';
}
