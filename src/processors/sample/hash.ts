/** The connection hashing the sample processor uses (in core: the eBPF records hash their raw words with it). */
export { combine, connectionHash, endpointHash, eventConnectionHash, fmix32, mulberry32 } from '../../core/hash.js';
