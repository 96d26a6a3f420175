/**
 * Files tcpotel writes (the file exporter, `record --out`): created 0640, never through a
 * symbolic link (O_NOFOLLOW), never a FIFO or a device, never a file with a second name (a
 * hard link planted to make a privileged process write elsewhere). New files are created
 * exclusively (O_EXCL) where something could be planted first.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, type Stats } from 'node:fs';
import { UserFacingError } from './errors.js';

/** Owner reads and writes, group reads. */
export const FILE_MODE = 0o640;

const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

function explain(path: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return new UserFacingError(`${path} is a symbolic link: tcpotel does not write through links`, 'write to the target itself, or remove the link');
  if (code === 'EEXIST') return new UserFacingError(`${path} appeared while tcpotel was creating it`);
  const e = new UserFacingError(`cannot open ${path} for writing: ${code ?? (err as Error).message}`);
  (e as Error & { code?: string }).code = code;
  return e;
}

/** Refuses what is not a regular file with exactly one name; closes `fd` when refusing. */
function checked(fd: number, path: string): { fd: number; stat: Stats } {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (err) {
    closeSync(fd);
    throw explain(path, err);
  }
  let why: string | undefined;
  if (!st.isFile()) why = 'is not a regular file';
  else if (st.nlink > 1) why = `has ${st.nlink} names (hard links): tcpotel does not write to a file that is also elsewhere`;
  if (why) {
    closeSync(fd);
    throw new UserFacingError(`${path} ${why}`);
  }
  return { fd, stat: st };
}

/** Opens `path` to append, creating it (0640) when it does not exist. */
export function openAppend(path: string): { fd: number; stat: Stats } {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not block the open (it is refused next).
    fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, FILE_MODE);
  } catch (err) {
    throw explain(path, err);
  }
  return checked(fd, path);
}

/** Creates `path` (0640); fails when anything, a link included, is already there. */
export function createExclusive(path: string): { fd: number; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, FILE_MODE);
  } catch (err) {
    throw explain(path, err);
  }
  return checked(fd, path);
}

/** Opens `path` to replace what it holds: created 0640 when missing, emptied once it is known to be safe. */
export function openReplace(path: string): { fd: number; stat: Stats } {
  const r = openAppend(path);
  try {
    ftruncateSync(r.fd, 0);
  } catch (err) {
    closeSync(r.fd);
    throw explain(path, err);
  }
  return r;
}
