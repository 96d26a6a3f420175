import type { ReceiverFactory } from '../../core/component.js';
import { defaultSockdiagConfig, sockdiagConfigSchema, type SockdiagConfig } from './config.js';
import { SockdiagReceiver } from './sockdiag.js';

export const sockdiagReceiverFactory: ReceiverFactory<SockdiagConfig> = {
  type: 'sockdiag',
  kind: 'receiver',
  description: 'every TCP connection by polling netlink sock_diag (no eBPF, no root needed; changes seen at the poll interval)',
  schema: sockdiagConfigSchema,
  createDefaultConfig: defaultSockdiagConfig,
  create: (config, ctx) => new SockdiagReceiver(config, ctx),
};
