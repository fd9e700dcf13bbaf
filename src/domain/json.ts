/** JSON values as stored (SCIM resources are kept as sent, in jsonb). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
