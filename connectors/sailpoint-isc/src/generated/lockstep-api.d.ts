// Generated from docs/openapi.json by `npm run gen:types` (scripts/gen-types.ts): do not edit.

export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description alive */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Health"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: store, Redis, overdue revocations, pending changes */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ready */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Readiness"];
                    };
                };
                /** @description not ready */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Readiness"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Prometheus metrics */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Prometheus text format */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/plain": string;
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Start an OIDC sign-in (authorization code with PKCE): redirects to the provider */
        get: {
            parameters: {
                query?: {
                    /** @description a path on this service to land on afterwards (default /ui/) */
                    returnTo?: string;
                    /** @description passed to the provider */
                    login_hint?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description to the provider; sets the short-lived `lockstep_login` cookie */
                302: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description OIDC is not configured */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the provider cannot be reached */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/callback": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The redirect URI: redeems the code, sets the session cookie, returns to returnTo */
        get: {
            parameters: {
                query?: {
                    code?: string;
                    state?: string;
                    error?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description to returnTo; sets `lockstep_session` (HttpOnly, SameSite=Lax, Secure on https) */
                302: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description no sign-in in progress */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the provider refused, or the code, state, nonce or PKCE check failed */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/logout": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sign out: clears the session cookie (needs X-Requested-With: lockstep) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description signed out */
                204: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description no X-Requested-With: lockstep */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/me": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Who the caller is (cookie or bearer), and their roles */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the caller */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Principal"];
                    };
                };
                /** @description not signed in */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This document */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description OpenAPI 3.1 */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            [key: string]: unknown;
                        };
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/docs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This document as a page */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description HTML */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/identities/{who}/explain": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Explain one person: each entitlement with its rules, role bundles, source roles and validity; what is denied; what each lock system holds
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description userName or identity id */
                    who: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the explanation */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Explanation"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such identity */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/runs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Recent runs, newest first, a page at a time
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: {
                    /** @description a whole number from 1 (default 50, at most 200) */
                    limit?: string;
                    /** @description a run id: the runs created before it (the previous page's `next`) */
                    before?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description runs without their plans (operations: how many) */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["RunList"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /**
         * Plan or apply a reconciliation (everyone, or some identities)
         * @description A plan is recorded and returned (201). An apply in `serve` is queued (202): a full run returns its run id; an identity-scoped apply queues one job per person (runId null). A mass revocation is held for approval.
         *
         *     Roles: operator.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": components["schemas"]["RunRequest"];
                };
            };
            responses: {
                /** @description run done (a plan, or an inline apply) */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["RunStarted"];
                    };
                };
                /** @description queued */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["RunStarted"];
                    };
                };
                /** @description bad body, naming the field */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/runs/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One run with its plan and results; a held run also says who caused it
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the run */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Run"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such run */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/runs/{id}/approve": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Approve a held run and apply it (four-eyes: not by whoever started or caused it)
         * @description The scope is planned afresh; if it now takes access from anyone the held plan did not show, it is held again as a new run (`held: true`). 403 with `details.rule: four-eyes` when the caller started or caused the run.
         *
         *     Roles: approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description run id or a unique prefix of it */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description approved and applied (or held again) */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["RunApproved"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing role, or four-eyes */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such run */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the run is not held (any more) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/runs/{id}/reject": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Reject a held run: nothing of it is applied (whoever started it may reject it)
         * @description Roles: approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description run id or a unique prefix of it */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": components["schemas"]["RejectRequest"];
                };
            };
            responses: {
                /** @description rejected */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["RunRejected"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such run */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the run is not held (any more) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/reports/access": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Who holds which access group, why, until when, last used: from the lock systems, joined with the policy
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: {
                    format?: "json" | "csv";
                    /** @description `role`: holders per role bundle and the role-to-door matrix */
                    groupBy?: "role";
                    /** @description with groupBy=role and format=csv: which table */
                    view?: "holders" | "matrix";
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the report (JSON rows, the role report with groupBy=role, or CSV) */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AccessReport"] | components["schemas"]["RoleReport"];
                        "text/csv": string;
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/reports/violations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Held access that breaks an invariant of the mappings (segregation of duties, class requirements): reported, never revoked on its own
         * @description Reads every identity and lock system as `lockstep plan` does (see docs/policy-as-code.md).
         *
         *     Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: {
                    format?: "json" | "csv";
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the invariants and their violations (JSON or CSV) */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["ViolationReport"];
                        "text/csv": string;
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/credentials/{system}/{id}/lost": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Report a lost credential: suspended (or marked lost) at once, an incident opened with its NIS2 clocks
         * @description Roles: operator.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    system: string;
                    /** @description the credential id in that system */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": components["schemas"]["LostCredentialRequest"];
                };
            };
            responses: {
                /** @description applied */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["LostCredentialOutcome"];
                    };
                };
                /** @description not landed yet: retried in the priority lane */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["LostCredentialOutcome"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such system or credential */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/incidents": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Incidents (lost credentials) with their NIS2 Art. 23 clocks, the reports recorded and the person by name
         * @description Roles: operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: {
                    status?: "open" | "closed";
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description incidents */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["IncidentList"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/audit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The hash-chained audit log, oldest first
         * @description Roles: auditor.
         */
        get: {
            parameters: {
                query?: {
                    /** @description an identity id, `system:account` or a run id */
                    subject?: string;
                    /** @description a whole number from 1 (default 1000, at most 10000) */
                    limit?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description entries */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AuditList"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/audit/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Walk the audit chain
         * @description Roles: auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description intact */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AuditVerifyResult"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description broken: where and how */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AuditVerifyResult"];
                    };
                };
            };
        };
        put?: never;
        /**
         * Walk the audit chain and check signed checkpoints against it
         * @description Roles: auditor.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["AuditVerifyRequest"];
                };
            };
            responses: {
                /** @description the log holds against its anchors */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["CheckpointVerifyResult"];
                    };
                };
                /** @description no audit.checkpoint configured, or a bad body */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description it does not */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["CheckpointVerifyResult"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/sources/{name}/sync": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Pull a configured source (HR export, Entra) now
         * @description Roles: operator.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    name: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description what the pull found: counts, skipped rows, withheld leavers */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            source: string;
                            /** @enum {string} */
                            type: "file";
                            /** @enum {boolean} */
                            synced: true;
                            rows: number;
                            counts: {
                                created: number;
                                updated: number;
                                unchanged: number;
                                leavers: number;
                            };
                            errors: {
                                file: string;
                                line: number;
                                column: string | null;
                                columnIndex: number | null;
                                reason: string;
                                externalId: string | null;
                                text: string;
                            }[];
                            leaversWithheld: string | null;
                            heldRun: {
                                runId: string;
                                people: number;
                                reason: string | null;
                            } | null;
                            warnings: string[];
                        } | {
                            source: string;
                            /** @enum {string} */
                            type: "entra";
                            /** @enum {boolean} */
                            synced: true;
                            counts: {
                                seen: number;
                                created: number;
                                changed: number;
                                removed: number;
                                leavers: number;
                            };
                            resynced: boolean;
                            held: {
                                wouldRemove: number;
                                total: number;
                                percent: number;
                                maxRemovalPercent: number;
                                sample: string[];
                            } | null;
                            conflicts: {
                                objectId: string;
                                externalId: string;
                                heldBy: string;
                            }[];
                            heldRun: {
                                runId: string;
                                people: number;
                                reason: string | null;
                            } | null;
                            warnings: string[];
                        };
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such source */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/access-groups": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The access groups the mappings declare, with their protection class, its limits and their owner
         * @description What an access request may ask for, and what a governance tool (the SailPoint connector) shows as entitlements.
         *
         *     Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the access groups */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AccessGroupList"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/exceptions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Access exceptions in force (all=true: also ended and removed ones), newest first
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: {
                    /** @description userName or identity id */
                    identity?: string;
                    accessGroup?: string;
                    all?: "true" | "false";
                    /** @description a whole number from 1 (default 1000, at most 10000) */
                    limit?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description exceptions */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            exceptions: components["schemas"]["AccessException"][];
                        };
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such identity */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /**
         * Record an access exception: deny an access group to a person until a date, and reconcile them at once
         * @description The group is denied even where rules grant it; explain and the access report show the exception as the reason. It ends on time (the person is looked at again at `until` and granted the group again if the rules still say so). The revocation goes through the mass-revocation guard and the revocation budget. In the audit log as `exception.created`.
         *
         *     Roles: operator, approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["ExceptionRequest"];
                };
            };
            responses: {
                /** @description recorded; the reconciliation started */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            exception: components["schemas"]["AccessException"];
                            /** @description the person's reconciliation, started at once */
                            run: {
                                runId: string | null;
                                queued: boolean;
                            };
                        };
                    };
                };
                /** @description bad body, naming the field (an unknown access group, an until not in the future) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such identity */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/exceptions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One access exception
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the exception */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AccessException"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such exception */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        /**
         * End an access exception early (it stays as the record) and reconcile the person
         * @description In the audit log as `exception.removed` with its reason.
         *
         *     Roles: approver.
         */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["ExceptionRemoval"];
                };
            };
            responses: {
                /** @description removed; the reconciliation started */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            exception: components["schemas"]["AccessException"];
                            /** @description the person's reconciliation, started at once */
                            run: {
                                runId: string | null;
                                queued: boolean;
                            };
                        };
                    };
                };
                /** @description no reason */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such exception */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description already removed */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/requests": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Access requests, newest first
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: {
                    identity?: string;
                    status?: "pending" | "approved" | "denied";
                    /** @description a whole number from 1 (default 1000, at most 10000) */
                    limit?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description requests */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            requests: components["schemas"]["AccessRequest"][];
                        };
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /**
         * Request an access group or a role bundle for a time window (for yourself, someone you manage, or, as an operator, anyone)
         * @description The class limits apply at once: a window longer than the class's maximum validity is a 400 naming `until`; a non-employee in a class that requires a sponsor needs an active one. It then waits for the group's owner (any approver where the mappings declare none) and, for such non-employees, the sponsor. In the audit log as `request.created`.
         *
         *     Roles: viewer, operator, approver, auditor.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["AccessRequestInput"];
                };
            };
            responses: {
                /** @description recorded, pending approval */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AccessRequest"];
                    };
                };
                /** @description bad body, naming the field */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not the person, their manager or an operator */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such identity */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/requests/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One access request with its approval steps
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the request */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AccessRequest"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such request */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/requests/{id}/approve": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Approve a request as the group's owner or the person's sponsor (four-eyes: not the requester, not the person)
         * @description Gives every open step the caller may give (`request.approval` in the audit log); once every step is given the request is approved (`request.approved`), a time-bound grant with the request as its reason, applied at once and ending on time.
         *
         *     Roles: approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": components["schemas"]["RequestDecision"];
                };
            };
            responses: {
                /** @description approved (run started) or still waiting for another step */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            request: components["schemas"]["AccessRequest"];
                            /** @description the person's reconciliation, started at once */
                            run: {
                                runId: string | null;
                                queued: boolean;
                            } | null;
                        };
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description four-eyes, or the caller approves no open step */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such request */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not pending */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/requests/{id}/deny": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Deny a request (as one of its approvers), with a comment
         * @description Roles: approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["RequestDenial"];
                };
            };
            responses: {
                /** @description denied */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            request: components["schemas"]["AccessRequest"];
                        };
                    };
                };
                /** @description no comment */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description four-eyes, or not an approver of it */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such request */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not pending */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/reviews": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Access review campaigns, newest first
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: {
                    /** @description a declared review id */
                    review?: string;
                    status?: "open" | "closed";
                    /** @description a whole number from 1 (default 1000, at most 10000) */
                    limit?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description campaigns */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            campaigns: components["schemas"]["ReviewCampaign"][];
                        };
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /**
         * Start a campaign of a declared review now (one item per person entitled to a group in its scope)
         * @description In the audit log as `review.started`. Campaigns also start on schedule (`every`), from the maintenance timer.
         *
         *     Roles: operator.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["ReviewStart"];
                };
            };
            responses: {
                /** @description started */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            campaign: components["schemas"]["ReviewCampaign"];
                            items: components["schemas"]["ReviewItem"][];
                        };
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such review in the mappings */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description a campaign of it is open */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/reviews/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One campaign with its items and their decisions
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the campaign */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["ReviewReport"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such campaign */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/reviews/{id}/items/{item}/decide": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Keep or revoke one item, as its reviewer (the group's owner, the person's manager or sponsor; any approver where it has none)
         * @description A revoke is an access exception with the review as its reason, until the next campaign (or the declared revokeFor), applied at once through the guard and budget. In the audit log as `review.decided`. Nobody reviews their own access (four-eyes).
         *
         *     Roles: approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                    item: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["ReviewDecision"];
                };
            };
            responses: {
                /** @description decided */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            item: components["schemas"]["ReviewItem"];
                            /** @description the person's reconciliation, started at once */
                            run: {
                                runId: string | null;
                                queued: boolean;
                            } | null;
                        };
                    };
                };
                /** @description bad body (a revoke needs a comment) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not the reviewer, or their own access */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such campaign or item */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description closed, or decided already */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/reviews/{id}/report": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The evidence of a campaign: who reviewed what, when, with which outcome (JSON or CSV)
         * @description Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: {
                    format?: "json" | "csv";
                };
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the report */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["ReviewReport"];
                        "text/csv": string;
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such campaign */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/incidents/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One incident with its NIS2 clocks, the reports recorded and the person
         * @description Roles: operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description the incident id, or a unique prefix of it (at least 4 characters) */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the incident */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Incident"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such incident */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/incidents/{id}/ack": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Acknowledge an incident: someone has taken it on (the clocks keep running)
         * @description In the audit log as `incident.acknowledged`. 409 when it was acknowledged before or is closed.
         *
         *     Roles: operator, approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description the incident id, or a unique prefix of it (at least 4 characters) */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": components["schemas"]["IncidentAcknowledgement"];
                };
            };
            responses: {
                /** @description acknowledged */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Incident"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such incident */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description already acknowledged, or closed */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/incidents/{id}/report": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Record that the early warning, the notification or the final report was sent: its clock stops
         * @description With when it was sent (default now), the reference and the caller. In the audit log as `incident.reported` (with `late` when it was sent after its due time). 409 when that report was recorded before or the incident is closed.
         *
         *     Roles: operator, approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description the incident id, or a unique prefix of it (at least 4 characters) */
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["IncidentReport"];
                };
            };
            responses: {
                /** @description recorded */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Incident"];
                    };
                };
                /** @description bad body, naming the field (sentAt in the future) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such incident */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description recorded before, or closed */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/incidents/{id}/close": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Close an incident with a reason: no clock runs after
         * @description In the audit log as `incident.closed`, with the reports never recorded (`unreported`).
         *
         *     Roles: operator, approver.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description the incident id, or a unique prefix of it (at least 4 characters) */
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["IncidentClosure"];
                };
            };
            responses: {
                /** @description closed */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Incident"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such incident */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description closed before */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/identities": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Console: GET /identities (src/api/console.ts)
         * @description A route of the web console's API; its request and response are the console's own and may change with it.
         *
         *     Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the console's answer */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["PersonList"];
                    };
                };
                /** @description bad input, naming the field */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/mappings": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Console: GET /mappings (src/api/console.ts)
         * @description A route of the web console's API; its request and response are the console's own and may change with it.
         *
         *     Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the console's answer */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            [key: string]: unknown;
                        };
                    };
                };
                /** @description bad input, naming the field */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/plan/what-if": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Console: POST /plan/what-if (src/api/console.ts)
         * @description A route of the web console's API; its request and response are the console's own and may change with it.
         *
         *     Roles: operator.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": {
                        [key: string]: unknown;
                    };
                };
            };
            responses: {
                /** @description the console's answer */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            [key: string]: unknown;
                        };
                    };
                };
                /** @description bad input, naming the field */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/console/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Console: GET /console/health (src/api/console.ts)
         * @description A route of the web console's API; its request and response are the console's own and may change with it.
         *
         *     Roles: viewer, operator, approver, auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the console's answer */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            [key: string]: unknown;
                        };
                    };
                };
                /** @description bad input, naming the field */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/console/audit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Console: GET /console/audit (src/api/console.ts)
         * @description A route of the web console's API; its request and response are the console's own and may change with it.
         *
         *     Roles: auditor.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the console's answer */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            [key: string]: unknown;
                        };
                    };
                };
                /** @description bad input, naming the field */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description not signed in, or the bearer token is unknown, expired or for another audience */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        Error: {
            error: {
                /** @description `validation`, `not_found`, `conflict`, `precondition`, `auth`, `forbidden`, `csrf`, `config`, `unavailable`… */
                code: string;
                message: string;
                /** @description the field, parameter or header at fault */
                field?: string;
                details?: unknown;
                /** @description 403 forbidden: the roles of which the caller needs one */
                missing?: ("viewer" | "operator" | "approver" | "auditor")[];
            } & {
                [key: string]: unknown;
            };
        };
        SourceSyncResponse: {
            source: string;
            /** @enum {string} */
            type: "file";
            /** @enum {boolean} */
            synced: true;
            rows: number;
            counts: {
                created: number;
                updated: number;
                unchanged: number;
                leavers: number;
            };
            errors: {
                file: string;
                line: number;
                column: string | null;
                columnIndex: number | null;
                reason: string;
                externalId: string | null;
                text: string;
            }[];
            leaversWithheld: string | null;
            heldRun: {
                runId: string;
                people: number;
                reason: string | null;
            } | null;
            warnings: string[];
        } | {
            source: string;
            /** @enum {string} */
            type: "entra";
            /** @enum {boolean} */
            synced: true;
            counts: {
                seen: number;
                created: number;
                changed: number;
                removed: number;
                leavers: number;
            };
            resynced: boolean;
            held: {
                wouldRemove: number;
                total: number;
                percent: number;
                maxRemovalPercent: number;
                sample: string[];
            } | null;
            conflicts: {
                objectId: string;
                externalId: string;
                heldBy: string;
            }[];
            heldRun: {
                runId: string;
                people: number;
                reason: string | null;
            } | null;
            warnings: string[];
        };
        Health: {
            /** @enum {string} */
            status: "ok";
        };
        Readiness: {
            /** @enum {string} */
            status: "ready" | "not ready";
            store: string;
        } & {
            [key: string]: unknown;
        };
        Principal: {
            /** @description the OIDC `sub`, or `token:<name>` */
            subject: string;
            name: string | null;
            email: string | null;
            roles: ("viewer" | "operator" | "approver" | "auditor")[];
            /** @enum {string} */
            via: "oidc" | "token";
            /** @description the name audit entries give this caller */
            actor: string;
        };
        Explanation: {
            identity: components["schemas"]["Identity"];
            leaver: boolean;
            entitlements: components["schemas"]["Entitlement"][];
            denied: {
                accessGroupId: string;
                rule: string;
                reason: string;
                /** @description the access exception that denies it (POST /exceptions, or an access review) */
                exception?: {
                    id: string;
                    /** Format: date-time */
                    until: string;
                    reason: string;
                    /** @enum {string} */
                    source: "manual" | "review";
                    sourceRef: string | null;
                    createdBy: string;
                };
            }[];
            conflict: ({
                identityId: string;
                userName: string;
                externalId: string;
                /** @description the other identities with the same externalId */
                heldBy: ({
                    id: string;
                    userName: string;
                    source: string;
                } & {
                    [key: string]: unknown;
                })[];
            } & {
                [key: string]: unknown;
            }) | null;
            /** Format: date-time */
            nextCheckAt: string | null;
            systems: ({
                system: string;
                account: components["schemas"]["Account"];
                linked: boolean;
                offline?: {
                    revalidationDays: number;
                };
                fitted?: string[];
            } & {
                [key: string]: unknown;
            })[];
            offlinePending: ({
                system: string;
                accountId: string;
                groupRef: string;
                kind: string;
                /** Format: date-time */
                revokedAt: string;
                /** Format: date-time */
                learnedBy: string;
            } & {
                [key: string]: unknown;
            })[];
            /** @description the explanation as lines, as `lockstep explain` prints it */
            text: string[];
        };
        Identity: {
            id: string;
            source: string;
            externalId: string;
            userName: string;
            displayName?: string;
            active: boolean;
            employeeType?: string;
            department?: string;
            jobTitle?: string;
            site?: string;
            manager?: string;
            sponsor?: string;
            email?: string;
            hireDate?: string;
            leaveDate?: string;
            contractEnd?: string;
            groups: string[];
            roles: ({
                value: string;
                display?: string;
                type?: string;
                primary?: boolean;
            } & {
                [key: string]: unknown;
            })[];
            /** Format: date-time */
            deletedAt: string | null;
        } & {
            [key: string]: unknown;
        };
        Entitlement: {
            identityId: string;
            accessGroup: components["schemas"]["AccessGroupRef"];
            /** Format: date-time */
            validFrom: string | null;
            /** Format: date-time */
            validUntil: string | null;
            reasons: components["schemas"]["Reason"][];
        } & {
            [key: string]: unknown;
        };
        AccessGroupRef: {
            id: string;
            system: string;
            ref: string;
            name: string;
            protectionClass: number;
        } & {
            [key: string]: unknown;
        };
        Reason: {
            rule: string;
            role?: string;
            roleChain?: string[];
            sourceRole?: string;
            matched: {
                [key: string]: unknown;
            };
            notes?: string[];
        } & {
            [key: string]: unknown;
        };
        Account: ({
            id: string;
            externalId: string | null;
            displayName: string;
            /** @enum {string} */
            state: "active" | "suspended";
            memberships: ({
                group: string;
                /** Format: date-time */
                from: string | null;
                /** Format: date-time */
                until: string | null;
            } & {
                [key: string]: unknown;
            })[];
            credentials: ({
                id: string;
                type: string;
                /** @description card number or key id, as the system shows it (may be masked) */
                number?: string;
                /** @enum {string} */
                status: "active" | "suspended" | "lost" | "revoked";
                /** Format: date-time */
                lastUsedAt: string | null;
            } & {
                [key: string]: unknown;
            })[];
        } & {
            [key: string]: unknown;
        }) | null;
        RunStarted: {
            /** @description null: an identity-scoped apply was queued (one job per person) */
            runId: string | null;
            queued: boolean;
            run: components["schemas"]["Run"];
        };
        Run: {
            /** Format: uuid */
            id: string;
            /** @enum {string} */
            kind: "plan" | "apply";
            /** @description what started it: `api`, `startup`, `full:schedule`, `queue:<reason>`, `guard:revocation-budget`… */
            trigger: string;
            /** @enum {string} */
            status: "planned" | "held" | "approved" | "applying" | "applied" | "partial" | "failed" | "cancelled";
            /** @enum {string} */
            scope: "full" | "identities";
            /** @description the plan summary (add, change, destroy), and for held runs the guard verdict or held people */
            summary: {
                [key: string]: unknown;
            } | null;
            progress: {
                done: number;
                total: number;
            } | null;
            /** @description why it was held, rejected or failed */
            error: string | null;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            startedAt: string | null;
            /** Format: date-time */
            finishedAt: string | null;
            approvedBy: string | null;
            /** Format: date-time */
            approvedAt: string | null;
            plan: components["schemas"]["Plan"];
            results: ({
                key: string;
                /** @enum {string} */
                status: "applied" | "failed" | "skipped";
                error?: {
                    code: string;
                    message: string;
                } & {
                    [key: string]: unknown;
                };
                attempts: number;
                /** Format: date-time */
                at: string;
            } & {
                [key: string]: unknown;
            })[];
            /** @description held runs: who started or caused it (they cannot approve it: four-eyes) */
            causedBy?: string[];
        } | null;
        Plan: ({
            /** Format: date-time */
            createdAt: string;
            /** @enum {string} */
            scope: "full" | "identities";
            identities: number;
            operations: components["schemas"]["Operation"][];
            summary: {
                add: number;
                change: number;
                destroy: number;
                byKind: {
                    [key: string]: number;
                };
            } & {
                [key: string]: unknown;
            };
            warnings: string[];
            conflicts?: ({
                identityId: string;
                userName: string;
                externalId: string;
            } & {
                [key: string]: unknown;
            })[];
            /** Format: date-time */
            nextCheckAt: string | null;
        } & {
            [key: string]: unknown;
        }) | null;
        Operation: {
            key: string;
            /** @enum {string} */
            kind: "create_account" | "update_account" | "link_account" | "reactivate_account" | "revoke" | "grant" | "change_validity" | "suspend_account" | "delete_account" | "set_credential_state";
            system: string;
            identityId: string | null;
            externalId: string | null;
            userName: string | null;
            accountId: string | null;
            group?: {
                id: string;
                ref: string;
                name: string;
                protectionClass: number;
            } & {
                [key: string]: unknown;
            };
            validity?: {
                /** Format: date-time */
                from: string | null;
                /** Format: date-time */
                until: string | null;
            };
            previousValidity?: {
                /** Format: date-time */
                from: string | null;
                /** Format: date-time */
                until: string | null;
            };
            credentialId?: string;
            /** @enum {string} */
            credentialState?: "active" | "suspended" | "lost" | "revoked";
            reason: {
                cause: string;
                text: string;
                policy?: string;
                reasons?: components["schemas"]["Reason"][];
            } & {
                [key: string]: unknown;
            };
            revocation: boolean;
            /** Format: date-time */
            learnedBy?: string;
        } & {
            [key: string]: unknown;
        };
        RunRequest: {
            /**
             * @description `plan` records what would change; `apply` changes the lock systems (queued in `serve`)
             * @default plan
             * @enum {string}
             */
            mode: "plan" | "apply";
            /** @description identity ids to reconcile; absent: everyone (a full run) */
            identities?: string[];
        };
        RunList: {
            runs: components["schemas"]["RunListItem"][];
            /** @description there are older runs: ask with before=next */
            more?: boolean;
            /** @description the `before` of the next page */
            next?: string | null;
        };
        RunListItem: {
            /** Format: uuid */
            id: string;
            /** @enum {string} */
            kind: "plan" | "apply";
            /** @description what started it: `api`, `startup`, `full:schedule`, `queue:<reason>`, `guard:revocation-budget`… */
            trigger: string;
            /** @enum {string} */
            status: "planned" | "held" | "approved" | "applying" | "applied" | "partial" | "failed" | "cancelled";
            /** @enum {string} */
            scope: "full" | "identities";
            /** @description the plan summary (add, change, destroy), and for held runs the guard verdict or held people */
            summary: {
                [key: string]: unknown;
            } | null;
            progress: {
                done: number;
                total: number;
            } | null;
            /** @description why it was held, rejected or failed */
            error: string | null;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            startedAt: string | null;
            /** Format: date-time */
            finishedAt: string | null;
            approvedBy: string | null;
            /** Format: date-time */
            approvedAt: string | null;
            /** @description operations in its plan */
            operations: number;
            /** @description operations applied so far */
            applied?: number;
            /** @description operations that failed */
            failed?: number;
        };
        RunApproved: {
            run: components["schemas"]["Run"];
            /** @description the world changed since: held again as a new run */
            held: boolean;
            failed: number;
        };
        RunRejected: {
            run: components["schemas"]["Run"];
        };
        RejectRequest: {
            /** @description why, for the audit log */
            reason?: string;
        };
        AccessReport: {
            /** Format: date-time */
            generatedAt: string;
            rows: components["schemas"]["AccessReportRow"][];
        };
        AccessReportRow: {
            system: string;
            accountId: string;
            accountState: string;
            userName: string | null;
            displayName: string;
            identityId: string | null;
            employeeType: string | null;
            department: string | null;
            accessGroupId: string | null;
            accessGroup: string;
            groupRef: string;
            protectionClass: number | null;
            /** Format: date-time */
            validFrom: string | null;
            /** Format: date-time */
            validUntil: string | null;
            /** @description rules, role bundles and source roles that justify it; empty: nothing does */
            why: string;
            roles: string[];
            /** Format: date-time */
            lastUsed: string | null;
            justified: boolean;
            /** @description the access exception that denies this membership (it is being revoked) */
            exceptionId?: string | null;
            /** Format: date-time */
            stillOnKeysUntil: string | null;
            /** @description invariants of the mappings this membership breaks, as the last plans found it (reported, never revoked on its own) */
            violations?: string[];
        };
        RoleReport: {
            /** Format: date-time */
            generatedAt: string;
            holders: {
                role: string;
                userName: string | null;
                displayName: string;
                system: string;
                accessGroup: string;
                protectionClass: number | null;
                /** Format: date-time */
                validUntil: string | null;
            }[];
            matrix: {
                role: string;
                accessGroupId: string;
                accessGroup: string;
                system: string;
                protectionClass: number;
                via: string;
            }[];
        };
        ViolationReport: {
            /** Format: date-time */
            generatedAt: string;
            invariants: {
                id: string;
                description: string | null;
                says: string;
                violations: number;
            }[];
            violations: {
                invariant: string;
                /** @description null: a maxHolders violation (about the group, not a person) */
                identityId: string | null;
                userName: string | null;
                accessGroupIds: string[];
                message: string;
            }[];
        };
        LostCredentialOutcome: {
            incident: components["schemas"]["Incident"];
            result: {
                key: string;
                /** @enum {string} */
                status: "applied" | "failed" | "skipped";
                attempts: number;
                /** Format: date-time */
                at: string;
            } & {
                [key: string]: unknown;
            };
            account: {
                id: string;
                displayName: string;
                externalId: string | null;
            };
            /** @description revokeAccessUntil: the access exceptions that revoke the holder’s access where the credential itself could not be blocked */
            revokedAccess?: {
                /** Format: date-time */
                until: string;
                identityId: string;
                exceptions: {
                    id: string;
                    accessGroupId: string;
                }[];
            };
        };
        Incident: {
            id: string;
            kind: string;
            /** @enum {string} */
            status: "open" | "closed";
            system: string | null;
            accountId: string | null;
            credentialId: string | null;
            identityId: string | null;
            /** Format: date-time */
            openedAt: string;
            /** Format: date-time */
            closedAt: string | null;
            closedBy?: string | null;
            closeReason?: string | null;
            /** Format: date-time */
            acknowledgedAt?: string | null;
            acknowledgedBy?: string | null;
            /** @description the reports recorded as sent, by step (early-warning, notification, final-report) */
            steps?: {
                [key: string]: {
                    /** Format: date-time */
                    sentAt: string;
                    by: string;
                    reference: string;
                    /** Format: date-time */
                    recordedAt: string;
                };
            };
            /** @description the person whose credential it is */
            person?: {
                userName: string;
                displayName: string | null;
            } | null;
            data: {
                [key: string]: unknown;
            };
            /** @description NIS2 Art. 23 clocks: early warning 24 h, notification 72 h, final report one month; each stops when its report is recorded as sent */
            nis2: {
                /** Format: date-time */
                earlyWarningDue: string;
                /** Format: date-time */
                notificationDue: string;
                /** Format: date-time */
                finalReportDue: string;
                earlyWarningOverdue: boolean;
                hoursToEarlyWarning: number;
                clocks?: {
                    /** @enum {string} */
                    step: "early-warning" | "notification" | "final-report";
                    label: string;
                    /** Format: date-time */
                    due: string;
                    sent: {
                        /** Format: date-time */
                        sentAt: string;
                        by: string;
                        reference: string;
                        /** Format: date-time */
                        recordedAt: string;
                    } | null;
                    overdue: boolean;
                }[];
                overdue?: ("early-warning" | "notification" | "final-report")[];
            };
        };
        LostCredentialRequest: {
            /** @description the holder account, to skip the look-up */
            accountId?: string;
            note?: string;
            /**
             * @description `lost` where the system knows that state, else `suspended`
             * @enum {string}
             */
            state?: "lost" | "suspended";
            /** @description where the system cannot block the credential itself (e.g. Abloy Keyless phones): revoke its holder's access in that system until this date (ISO date or date-time) instead, one access exception per access group they hold there */
            revokeAccessUntil?: string;
        };
        IncidentList: {
            incidents: components["schemas"]["Incident"][];
        };
        AuditList: {
            entries: components["schemas"]["AuditEntry"][];
        };
        AuditEntry: {
            seq: number;
            /** Format: date-time */
            at: string;
            /** @description who: `oidc:<name> (<sub>)`, `token:<name>`, `cli:<user>`, `scim`, `worker`, `scheduler`… */
            actor: string;
            action: string;
            subject: string | null;
            runId: string | null;
            data: {
                [key: string]: unknown;
            };
            prevHash: string;
            hash: string;
        };
        AuditVerifyResult: {
            ok: boolean;
            entries: number;
            firstBadSeq: number | null;
            problem: string | null;
            pending: number;
        };
        CheckpointVerifyResult: {
            ok: boolean;
            chain: components["schemas"]["AuditVerifyResult"];
            checkpoints: number;
            anchoredSeq: number | null;
            firstBad: {
                line: number;
                seq: number | null;
                /** Format: date-time */
                at: string | null;
                /** @enum {string} */
                kind: "malformed" | "unknown-key" | "bad-signature" | "truncated" | "rewritten";
                problem: string;
            } | null;
            bad: number;
        };
        AuditVerifyRequest: {
            /** @description the checkpoint sink's JSON lines, or the checkpoints as objects */
            checkpoints: string | {
                [key: string]: unknown;
            }[];
        };
        AccessGroupList: {
            accessGroups: {
                id: string;
                name: string;
                system: string;
                ref: string;
                protectionClass: number;
                /** @description who approves access requests for it (accessGroups[].owner); null: any approver */
                owner: string | null;
                /** @description the class's longest window (maxValidityDays or maxValidity); null: none */
                maxValidity: {
                    ms: number;
                    text: string;
                } | null;
                /** @description non-employees need an active sponsor for this class */
                sponsorRequired: boolean;
            }[];
        };
        AccessException: {
            /** Format: uuid */
            id: string;
            identityId: string;
            accessGroupId: string;
            /** Format: date-time */
            until: string;
            reason: string;
            /** @enum {string} */
            source: "manual" | "review";
            sourceRef: string | null;
            createdBy: string;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            removedAt: string | null;
            removedBy: string | null;
            removedReason: string | null;
            /** @description the person, by name (in lists) */
            person?: {
                userName: string;
                displayName: string | null;
                externalId: string;
            } | null;
        };
        ExceptionRequest: {
            /** @description the person: userName or identity id */
            identity: string;
            /** @description mapping id of the access group to deny */
            accessGroup: string;
            /**
             * @description ISO date (the end of that day, UTC) or date-time with a zone; must be in the future
             * @example 2026-12-31
             */
            until: string;
            /** @description why: a review, a manual decision (in the audit log) */
            reason: string;
        };
        ExceptionRemoval: {
            /** @description why the exception ends early (in the audit log) */
            reason: string;
        };
        AccessRequest: {
            /** Format: uuid */
            id: string;
            identityId: string;
            /** @enum {string} */
            kind: "accessGroup" | "role";
            target: string;
            groups: string[];
            /** Format: date-time */
            validFrom: string;
            /** Format: date-time */
            validUntil: string;
            justification: string;
            /** @enum {string} */
            status: "pending" | "approved" | "denied";
            steps: {
                /** @enum {string} */
                kind: "owner" | "approver" | "sponsor";
                /** @description the owner or sponsor who may give it; null: any approver */
                who: string | null;
                groups: string[];
                approvedBy: string | null;
                /** Format: date-time */
                approvedAt: string | null;
                comment: string | null;
            }[];
            requestedBy: string;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            decidedAt: string | null;
            decidedBy: string | null;
            decisionComment: string | null;
            /** @description the person, by name (in lists) */
            person?: {
                userName: string;
                displayName: string | null;
                externalId: string;
            } | null;
        };
        AccessRequestInput: {
            /** @description who needs the access: userName or identity id (yourself, someone you manage, or anyone for an operator) */
            identity: string;
            /** @description the access group asked for (or role) */
            accessGroup?: string;
            /** @description the role bundle asked for (or accessGroup) */
            role?: string;
            /** @description ISO date or date-time; default now */
            from?: string;
            /**
             * @description ISO date (end of that day, UTC) or date-time; at most the class's maximum validity after from
             * @example 2026-07-31
             */
            until: string;
            justification: string;
        };
        RequestDecision: {
            comment?: string;
        };
        RequestDenial: {
            /** @description why (in the audit log) */
            comment: string;
        };
        ReviewCampaign: {
            /** Format: uuid */
            id: string;
            reviewId: string;
            /** @enum {string} */
            status: "open" | "closed";
            /** Format: date-time */
            startedAt: string;
            startedBy: string;
            /** Format: date-time */
            deadline: string;
            /** Format: date-time */
            nextReminderAt: string | null;
            /**
             * Format: date-time
             * @description until when a revoke's exception lasts
             */
            revokeUntil: string;
            /** @enum {string} */
            undecided: "keep" | "revoke";
            /** Format: date-time */
            closedAt: string | null;
        };
        ReviewItem: {
            /** Format: uuid */
            id: string;
            campaignId: string;
            identityId: string;
            userName: string;
            accessGroupId: string;
            /** @enum {string|null} */
            reviewerKind: "owner" | "manager" | "sponsor" | null;
            /** @description who decides; null: any approver */
            reviewer: string | null;
            /** @enum {string|null} */
            decision: "keep" | "revoke" | null;
            decidedBy: string | null;
            /** Format: date-time */
            decidedAt: string | null;
            comment: string | null;
            /** @enum {string|null} */
            decidedVia: "reviewer" | "deadline" | null;
            exceptionId: string | null;
        };
        ReviewStart: {
            /** @description the id of a review the mappings declare */
            review: string;
        };
        ReviewReport: {
            campaign: components["schemas"]["ReviewCampaign"];
            summary: {
                items: number;
                kept: number;
                revoked: number;
                undecided: number;
                byDeadline: number;
            };
            items: components["schemas"]["ReviewItem"][];
        };
        ReviewDecision: {
            /** @enum {string} */
            decision: "keep" | "revoke";
            /** @description why; required to revoke */
            comment?: string;
        };
        IncidentAcknowledgement: {
            note?: string;
        };
        IncidentReport: {
            /**
             * @description which report was sent: the early warning (24 h), the notification (72 h) or the final report (one month)
             * @enum {string}
             */
            step: "early-warning" | "notification" | "final-report";
            /** @description the CSIRT's or authority's reference, or where the report is filed */
            reference: string;
            /** @description when it was sent (ISO date-time with a zone); default now */
            sentAt?: string;
        };
        IncidentClosure: {
            /** @description why it is closed (in the audit log) */
            reason: string;
        };
        PersonList: {
            identities: components["schemas"]["PersonRow"][];
            /** @description more people match than the page holds */
            more: boolean;
        };
        PersonRow: {
            id: string;
            userName: string;
            displayName: string | null;
            externalId: string;
            source: string;
            employeeType: string | null;
            department: string | null;
            jobTitle: string | null;
            site: string | null;
            leaver: boolean;
            deleted: boolean;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
