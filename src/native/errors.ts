/**
 * The one error both native surfaces raise (native/errors.cc makes it): the failed
 * operation (a libbpf step such as "load" or "attach btf_inet_sock_set_state", or a
 * system call such as "sendto"), the errno, its symbolic name and, for libbpf, the
 * warnings it printed before failing (the verifier's log when loading failed).
 */
export class NativeError extends Error {
  override readonly name = 'NativeError';
  /** The operation that failed. */
  readonly op: string;
  readonly errno: number;
  /** Symbolic errno, e.g. "EPERM". */
  readonly code: string;
  /** libbpf's warnings before the failure (the verifier log, when loading failed); '' otherwise. */
  readonly log: string;
  constructor(props: { message: string; op: string; errno: number; code: string; log?: string }) {
    super(props.message);
    this.op = props.op;
    this.errno = props.errno;
    this.code = props.code;
    this.log = props.log ?? '';
  }
}
