/** Long-running processes: `lockstep simulator`, `dev-oidc`, `serve` and `worker`. */
import type { Command } from 'commander';
import { LockstepError } from '../domain/errors.js';
import { describeStoreHolder } from '../store/lock.js';
import { globals, out } from './shared.js';

/** simulator, dev-oidc, serve, worker */
export function registerServeCommands(program: Command): void {
  program
    .command('simulator')
    .description("run lockstep's reference lock system (HTTP) on its own")
    .option('-p, --port <port>', 'port', '8181')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--state <file>', 'state file (loaded at start, written on change)')
    .option('--api-key <key>', 'require this API key (env SIMULATOR_API_KEY)', process.env.SIMULATOR_API_KEY)
    .option('--no-validity', 'play a system that stores no validity windows (lockstep enforces them on schedule)')
    .option('--no-suspend', 'play a system that cannot suspend accounts')
    .option('--offline-days <days>', 'play a data-on-card system: offline locks learn changes when a key is updated, within this many days')
    .action(async (o: { port: string; host: string; state?: string; apiKey?: string; validity: boolean; suspend: boolean; offlineDays?: string }) => {
      const { startSimulator } = await import('../../connectors/simulator/index.js');
      const offlineDays = o.offlineDays === undefined ? null : Number(o.offlineDays);
      if (offlineDays !== null && !(Number.isInteger(offlineDays) && offlineDays > 0))
        throw new LockstepError('validation', `--offline-days must be a whole number of days above 0, not ${o.offlineDays}`, { field: 'offline-days' });
      const profile = {
        validity: o.validity ? ('membership' as const) : ('none' as const),
        suspendAccount: o.suspend,
        offline: offlineDays === null ? null : { revalidationDays: offlineDays },
      };
      const sim = await startSimulator({ port: Number(o.port), host: o.host, stateFile: o.state, apiKey: o.apiKey, profile });
      out(`simulator listening on ${sim.url}/api${o.state ? ` (state in ${o.state})` : ''}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await sim.flush();
      await sim.close();
    });

  program
    .command('dev-oidc')
    .description('run a local OpenID Connect provider to try sign-in and roles without one (loopback only; never for a real deployment)')
    .option('-p, --port <port>', 'port on 127.0.0.1', '8282')
    .option(
      '--user <sub:Name:role[+role]>',
      'a person it signs in (repeatable); default: ana (viewer), olga (operator), alice (approver), audrey (auditor)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (o: { port: string; user: string[] }) => {
      const { startOidcProvider } = await import('../runtime/dev-oidc.js');
      const ROLES = new Set(['viewer', 'operator', 'approver', 'auditor']);
      const specs = o.user.length
        ? o.user
        : ['ana:Ana Viewer:viewer', 'olga:Olga Operator:operator', 'alice:Alice Approver:approver', 'audrey:Audrey Auditor:auditor'];
      const users = specs.map((spec) => {
        const [sub, name, roles] = spec.split(':');
        const list = (roles ?? '').split('+').filter(Boolean);
        if (!sub || !name || list.length === 0 || list.some((r) => !ROLES.has(r))) {
          throw new LockstepError('validation', `--user ${spec}: give sub:Name:role[+role], roles from viewer, operator, approver, auditor`, { field: 'user' });
        }
        return { sub, name, email: `${sub}@example.test`, roles: list };
      });
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new LockstepError('validation', `--port must be a port number (0: any free one), not ${o.port}`, { field: 'port' });
      const idp = await startOidcProvider({ users, port, clientId: 'lockstep-dev', clientSecret: 'lockstep-dev-secret' });
      out(`dev OIDC provider at ${idp.issuer} (signs in anyone it lists: for trying lockstep on this machine only)`);
      for (const u of users) out(`  ${u.sub.padEnd(10)} ${u.name.padEnd(18)} ${u.roles.join(', ')}`);
      out('\nin lockstep.yaml, then restart `npm start` and open the console:');
      out(`  auth:\n    oidc: { issuer: ${idp.issuer}, clientId: ${idp.clientId}, clientSecret: ${idp.clientSecret} }`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await idp.close();
    });

  program
    .command('serve')
    .description('run the service: SCIM endpoint, admin API, workers and schedulers (npm start)')
    .action(async () => {
      const { serve } = await import('../runtime/serve.js');
      const service = await serve({ configPath: globals().config, logLevel: globals().logLevel });
      if (service.url) describeStoreHolder({ adminUrl: `${service.url}/api/v1` });
    });

  program
    .command('worker')
    .description('run queue workers only (scale out: many processes share Redis and PostgreSQL)')
    .action(async () => {
      const { serve } = await import('../runtime/serve.js');
      await serve({ configPath: globals().config, logLevel: globals().logLevel, workerOnly: true });
    });
}
