/**
 * The SDK's own way to run a command locally, as its `spcx` dev server does it: the source
 * config bound with `_withConfig` (what `readConfig()` returns inside), then the connector's
 * `_exec(type, context, input, writable)`, whose writable receives the SDK's raw responses
 * (`{type: 'output' | 'state' | …, data}`). `exec` gives the outputs of one command.
 */
import { Writable } from 'node:stream';
import type { Connector } from '@sailpoint/connector-sdk';

type Sdk = typeof import('@sailpoint/connector-sdk');

export interface Harness {
  exec<T = any>(type: string, input: unknown, config: Record<string, unknown>, context?: Record<string, unknown>): Promise<T[]>;
}

export function harness(sdk: Sdk, connector: Connector): Harness {
  return {
    async exec(type, input, config, context = {}) {
      const out: { type: string; data: any }[] = [];
      const sink = new Writable({
        objectMode: true,
        write(chunk, _enc, cb) {
          out.push(chunk);
          cb();
        },
      });
      await sdk._withConfig(config, () => connector._exec(type, { commandType: type, version: 1, ...context } as never, input, sink));
      sink.end();
      return out.filter((r) => r.type === 'output').map((r) => r.data);
    },
  };
}
