import { z } from 'zod';

/**
 * The option pieces HTTP drivers share in lockstep.yaml (`systems.NAME.options`): the vendor's
 * address, the client's timeout and attempts, the page size, and the TLS files. Each driver
 * keeps its own schema (strictObject) and its own defaults and limits; these are the pieces.
 */

/** The vendor API's http(s) address. */
export const httpUrlOption = () => z.url({ protocol: /^https?$/ });

/** Milliseconds one HTTP request may take. */
export const timeoutMsOption = (dflt: number) => z.number().int().positive().default(dflt);

/** Attempts per request for transient failures (the HTTP client's retry layer; 1: no retry). */
export const maxAttemptsOption = (dflt = 3) => z.number().int().min(1).max(10).default(dflt);

/** Items per page when listing, up to what the vendor allows. */
export const pageSizeOption = (max: number, dflt: number) => z.number().int().min(1).max(max).default(dflt);

/** A PEM CA bundle (file) to trust for the server's certificate, in place of the default roots. */
export const caFileOption = () => z.string().min(1).optional();

/** Off only for lab systems: the server's certificate is not checked. */
export const rejectUnauthorizedOption = () => z.boolean().default(true);

/** Files for mutual TLS: the client certificate and key (PEM), optionally its CA, passphrase and server name. */
export const clientCertificateOption = () =>
  z
    .strictObject({
      cert: z.string().min(1),
      key: z.string().min(1),
      ca: z.string().min(1).optional(),
      passphrase: z.string().optional(),
      servername: z.string().min(1).optional(),
    })
    .optional();

export type ClientCertificateOptions = NonNullable<z.infer<ReturnType<typeof clientCertificateOption>>>;
