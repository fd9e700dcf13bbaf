import { z } from 'zod';

/** `scim:` block of lockstep.yaml. Owned by the SCIM source. */
export const scimConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Source name stamped on identities written through SCIM. */
    source: z.string().default('scim'),
    /** Bearer tokens (several, for rotation). SCIM_TOKEN (comma-separated) adds to these. */
    tokens: z.array(z.string().min(16, 'a SCIM token must have at least 16 characters')).default([]),
    maxBodyBytes: z.number().int().positive().default(1_048_576),
    /** Largest page a list returns (ServiceProviderConfig filter.maxResults); also the default page size. */
    maxResults: z.number().int().positive().default(1000),
    /**
     * Also accept OAuth 2 access tokens (JWTs) signed by a key from jwksUri, with this issuer
     * and audience: e.g. Entra's own token when the Secret Token field is left empty.
     */
    jwt: z
      .object({
        issuer: z.string().min(1),
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        jwksUri: z.url(),
        clockToleranceSeconds: z.number().int().min(0).default(60),
      })
      .strict()
      .optional(),
  })
  .strict();
export type ScimConfig = z.infer<typeof scimConfigSchema>;
