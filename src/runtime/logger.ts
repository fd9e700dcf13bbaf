import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs to stderr (stdout stays clean for `--json` output). Secrets never
 * reach a log line: the redaction paths cover the places tokens travel.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'lockstep' },
      redact: {
        paths: ['*.apiKey', '*.clientSecret', '*.token', '*.tokens', '*.password', 'req.headers.authorization', '*.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
