import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/**
 * lockstep's own definitions of the part of the Salto Nebula gRPC API that the driver and its
 * fake use, as protobufjs JSON. Written from the vendor's published descriptors (package,
 * service, method and message names, field numbers and types kept as the vendor has them;
 * spec.test.ts checks each one against the descriptors when they are at hand), but only the
 * fields lockstep reads or writes: protobuf ignores the others on the wire.
 *
 * A TypeScript module rather than .proto files so that the compiled build (tsc to dist/) carries
 * it without a copy step.
 */

type FieldOpts = { repeated?: boolean; optional?: boolean; oneof?: string };
interface JsonField {
  type: string;
  id: number;
  rule?: 'repeated';
  options?: { proto3_optional: true };
}
interface JsonType {
  fields: Record<string, JsonField>;
  oneofs?: Record<string, { oneof: string[] }>;
  nested?: Record<string, JsonEnum>;
}
interface JsonEnum {
  values: Record<string, number>;
}
interface JsonService {
  methods: Record<string, { requestType: string; responseType: string }>;
}

/** A message from `[name, type, number, opts]` rows; proto3 `optional` becomes its synthetic oneof, as protoc makes it. */
function msg(rows: Array<[string, string, number, FieldOpts?]>, nested?: Record<string, JsonEnum>): JsonType {
  const fields: Record<string, JsonField> = {};
  const oneofs: Record<string, { oneof: string[] }> = {};
  for (const [name, type, id, o = {}] of rows) {
    fields[name] = { type, id, ...(o.repeated ? { rule: 'repeated' as const } : {}), ...(o.optional ? { options: { proto3_optional: true as const } } : {}) };
    const group = o.optional ? `_${name}` : o.oneof;
    if (group) (oneofs[group] ??= { oneof: [] }).oneof.push(name);
  }
  return { fields, ...(Object.keys(oneofs).length ? { oneofs } : {}), ...(nested ? { nested } : {}) };
}

const keyState = (values: string[]): Record<string, JsonEnum> => ({ State: { values: Object.fromEntries(values.map((v, i) => [v, i])) } });
const KEY_STATES = ['STATE_UNSPECIFIED', 'NOT_ASSIGNED', 'PENDING', 'ACTIVE'];
const opt = { optional: true } as const;
const rep = { repeated: true } as const;
const svc = (methods: Record<string, [string, string]>): JsonService => ({
  methods: Object.fromEntries(Object.entries(methods).map(([m, [requestType, responseType]]) => [m, { requestType, responseType }])),
});
const listRequest = (parentId = 1): JsonType =>
  msg([
    ['parent', 'string', parentId],
    ['page_size', 'int32', 2],
    ['page_token', 'string', 3],
    ['filter', 'string', 4],
    ['order_by', 'string', 5],
  ]);
const named = (): JsonType => msg([['name', 'string', 1]]);
const empty = (): JsonType => msg([]);
const TS = 'google.protobuf.Timestamp';
const EMPTY = 'google.protobuf.Empty';
const OPERATION = 'salto.longrunning.v1.Operation';

const user = {
  User: msg([
    ['name', 'string', 1],
    ['given_name', 'string', 3],
    ['family_name', 'string', 4, opt],
    ['display_name', 'string', 5],
    ['email', 'string', 6, opt],
    ['activate_time', TS, 7],
    ['expire_time', TS, 8],
    ['card_key', 'CardKey', 11],
    ['app_key', 'AppKey', 12],
    ['wallet_key', 'WalletKey', 13],
    ['blocked', 'bool', 14],
    ['passcode', 'Passcode', 15],
    ['electronic_key', 'ElectronicKey', 16],
  ]),
  UserAccessRight: msg([
    ['name', 'string', 1],
    ['access_right', 'string', 2],
    ['display_name', 'string', 3],
    ['activate_time', TS, 6, opt],
    ['expire_time', TS, 7, opt],
  ]),
  CardKey: msg(
    [
      ['name', 'string', 1],
      ['uid', 'string', 2],
      ['state', 'State', 3],
      ['outdated', 'bool', 4],
      ['expire_time', TS, 5],
    ],
    keyState(KEY_STATES),
  ),
  AppKey: msg(
    [
      ['name', 'string', 1],
      ['state', 'State', 2],
      ['outdated', 'bool', 3],
    ],
    keyState(KEY_STATES),
  ),
  WalletKey: msg(
    [
      ['name', 'string', 1],
      ['state', 'State', 2],
      ['outdated', 'bool', 3],
    ],
    keyState(KEY_STATES),
  ),
  Passcode: msg(
    [
      ['name', 'string', 1],
      ['state', 'State', 2],
    ],
    keyState(['STATE_UNSPECIFIED', 'NOT_ASSIGNED', 'ACTIVE']),
  ),
  ElectronicKey: msg(
    [
      ['name', 'string', 1],
      ['device_id', 'string', 2],
      ['state', 'State', 3],
      ['outdated', 'bool', 4],
      ['expire_time', TS, 5],
    ],
    keyState(KEY_STATES),
  ),
  CreateUserRequest: msg([
    ['parent', 'string', 1],
    ['user_id', 'string', 2, opt],
    ['user', 'User', 3],
  ]),
  GetUserRequest: named(),
  ListUsersRequest: listRequest(),
  ListUsersResponse: msg([
    ['users', 'User', 1, rep],
    ['next_page_token', 'string', 2],
    ['total_size', 'int32', 3],
  ]),
  UpdateUserRequest: msg([
    ['user', 'User', 1],
    ['update_mask', 'google.protobuf.FieldMask', 2],
  ]),
  DeleteUserRequest: named(),
  BlockUserRequest: named(),
  BlockUserResponse: empty(),
  UnblockUserRequest: named(),
  UnblockUserResponse: empty(),
  CreateUserAccessRightRequest: msg([
    ['parent', 'string', 1],
    ['user_access_right', 'UserAccessRight', 2],
  ]),
  ListUserAccessRightsRequest: listRequest(),
  ListUserAccessRightsResponse: msg([
    ['user_access_rights', 'UserAccessRight', 1, rep],
    ['next_page_token', 'string', 2],
  ]),
  UpdateUserAccessRightRequest: msg([
    ['user_access_right', 'UserAccessRight', 1],
    ['update_mask', 'google.protobuf.FieldMask', 2],
  ]),
  DeleteUserAccessRightRequest: named(),
  AssignCardKeyRequest: msg([
    ['name', 'string', 1],
    ['uid', 'string', 2],
  ]),
  CancelCardKeyRequest: named(),
  EncodeCardKeyRequest: msg([
    ['name', 'string', 1],
    ['encoder', 'string', 2, { oneof: 'device' }],
    ['electronic_lock', 'string', 3, { oneof: 'device' }],
    ['controller', 'string', 4, { oneof: 'device' }],
  ]),
  EncodeCardKeyResponse: empty(),
  EncodeCardKeyMetadata: empty(),
  CancelAppKeyRequest: named(),
  CancelWalletKeyRequest: named(),
  CancelWalletKeyResponse: msg([['wallet_key', 'WalletKey', 1]]),
  CancelPasscodeRequest: named(),
  CancelPasscodeResponse: msg([['passcode', 'Passcode', 1]]),
  CancelElectronicKeyRequest: named(),
  CancelElectronicKeyResponse: msg([['electronic_key', 'ElectronicKey', 1]]),
  UserService: svc({
    CreateUser: ['CreateUserRequest', 'User'],
    GetUser: ['GetUserRequest', 'User'],
    ListUsers: ['ListUsersRequest', 'ListUsersResponse'],
    UpdateUser: ['UpdateUserRequest', 'User'],
    DeleteUser: ['DeleteUserRequest', EMPTY],
    BlockUser: ['BlockUserRequest', 'BlockUserResponse'],
    UnblockUser: ['UnblockUserRequest', 'UnblockUserResponse'],
    CreateUserAccessRight: ['CreateUserAccessRightRequest', 'UserAccessRight'],
    ListUserAccessRights: ['ListUserAccessRightsRequest', 'ListUserAccessRightsResponse'],
    UpdateUserAccessRight: ['UpdateUserAccessRightRequest', 'UserAccessRight'],
    DeleteUserAccessRight: ['DeleteUserAccessRightRequest', EMPTY],
    AssignCardKey: ['AssignCardKeyRequest', 'CardKey'],
    CancelCardKey: ['CancelCardKeyRequest', 'CardKey'],
    EncodeCardKey: ['EncodeCardKeyRequest', OPERATION],
    CancelAppKey: ['CancelAppKeyRequest', 'AppKey'],
    CancelWalletKey: ['CancelWalletKeyRequest', 'CancelWalletKeyResponse'],
    CancelPasscode: ['CancelPasscodeRequest', 'CancelPasscodeResponse'],
    CancelElectronicKey: ['CancelElectronicKeyRequest', 'CancelElectronicKeyResponse'],
  }),
};

const accessright = {
  AccessRight: msg([
    ['name', 'string', 1],
    ['display_name', 'string', 2],
  ]),
  GetAccessRightRequest: named(),
  ListAccessRightsRequest: listRequest(),
  ListAccessRightsResponse: msg([
    ['access_rights', 'AccessRight', 1, rep],
    ['next_page_token', 'string', 2],
  ]),
  AccessRightService: svc({
    GetAccessRight: ['GetAccessRightRequest', 'AccessRight'],
    ListAccessRights: ['ListAccessRightsRequest', 'ListAccessRightsResponse'],
  }),
};

const event = {
  Event: msg([
    ['name', 'string', 1],
    ['type', 'string', 2],
    ['resource', 'string', 3],
    ['create_time', TS, 4],
    ['occur_time', TS, 5],
    ['data', 'google.protobuf.Struct', 6],
  ]),
  ListEventsRequest: listRequest(),
  ListEventsResponse: msg([
    ['events', 'Event', 1, rep],
    ['next_page_token', 'string', 2],
  ]),
  EventService: svc({ ListEvents: ['ListEventsRequest', 'ListEventsResponse'] }),
};

const installation = {
  Installation: msg([
    ['name', 'string', 1],
    ['display_name', 'string', 2],
    ['time_zone', 'string', 6],
    ['key_renewal_duration', 'google.protobuf.Duration', 10],
  ]),
  GetInstallationRequest: named(),
  InstallationService: svc({ GetInstallation: ['GetInstallationRequest', 'Installation'] }),
};

const longrunning = {
  Operation: msg([
    ['name', 'string', 1],
    ['metadata', 'google.protobuf.Any', 2],
    ['done', 'bool', 3],
    ['error', 'google.rpc.Status', 4, { oneof: 'result' }],
    ['response', 'google.protobuf.Any', 5, { oneof: 'result' }],
  ]),
  GetOperationRequest: named(),
  OperationService: svc({ GetOperation: ['GetOperationRequest', OPERATION] }),
};

/**
 * google.rpc.Status as the open googleapis define it (Operation.error, and the
 * `grpc-status-details-bin` trailer), and RetryInfo, the detail by which Google-style APIs
 * say how long to wait after RESOURCE_EXHAUSTED or UNAVAILABLE.
 */
const rpc = {
  Status: msg([
    ['code', 'int32', 1],
    ['message', 'string', 2],
    ['details', 'google.protobuf.Any', 3, rep],
  ]),
  RetryInfo: msg([['retry_delay', 'google.protobuf.Duration', 1]]),
};

const v1 = (nested: Record<string, unknown>) => ({ nested: { v1: { nested } } });

/** The salto.* part: what spec.test.ts compares with the vendor's descriptors. */
export const SALTO_SCHEMA = {
  nested: {
    salto: {
      nested: {
        nebula: {
          nested: {
            user: v1(user),
            accessright: v1(accessright),
            event: v1(event),
            installation: v1(installation),
          },
        },
        longrunning: v1(longrunning),
      },
    },
  },
} as const;

const WELL_KNOWN = ['timestamp', 'duration', 'empty', 'field_mask', 'any', 'struct'];

/** The whole schema: SALTO_SCHEMA, google.rpc.Status and the well-known types it refers to. */
export function nebulaSchemaJson(): protobuf.INamespace {
  const google: { nested: Record<string, { nested: Record<string, unknown> }> } = { nested: { protobuf: { nested: {} }, rpc: { nested: rpc } } };
  for (const name of WELL_KNOWN) {
    const common = protobuf.common.get(`google/protobuf/${name}.proto`) as {
      nested: { google: { nested: { protobuf: { nested: Record<string, unknown> } } } };
    };
    Object.assign(google.nested.protobuf.nested, snakeCase(structuredClone(common.nested.google.nested.protobuf.nested)));
  }
  return { nested: { ...(SALTO_SCHEMA.nested as unknown as Record<string, protobuf.AnyNestedObject>), google } } as protobuf.INamespace;
}

/** protobufjs ships some well-known types with camelCase field names; the .proto names are snake_case, as the rest of the schema. */
function snakeCase(types: Record<string, unknown>): Record<string, unknown> {
  for (const t of Object.values(types) as Array<{ fields?: Record<string, { protoName?: string }>; oneofs?: Record<string, { oneof: string[] }> }>) {
    if (!t.fields) continue;
    const renamed: Record<string, string> = {};
    t.fields = Object.fromEntries(
      Object.entries(t.fields).map(([k, f]) => {
        const name = f.protoName ?? k;
        renamed[k] = name;
        const { protoName: _, ...rest } = f;
        return [name, rest];
      }),
    );
    for (const o of Object.values(t.oneofs ?? {})) o.oneof = o.oneof.map((k) => renamed[k] ?? k);
  }
  return types;
}

/** Field names as the vendor spells them (snake_case); 64-bit integers as strings; enums by name; defaults filled in. */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export interface NebulaServices {
  UserService: grpc.ServiceClientConstructor;
  AccessRightService: grpc.ServiceClientConstructor;
  EventService: grpc.ServiceClientConstructor;
  InstallationService: grpc.ServiceClientConstructor;
  OperationService: grpc.ServiceClientConstructor;
}

let loaded: NebulaServices | undefined;

/** The gRPC service constructors for the subset (client and, through `.service`, server side). */
export function nebulaServices(): NebulaServices {
  if (loaded) return loaded;
  const def = grpc.loadPackageDefinition(protoLoader.fromJSON(nebulaSchemaJson(), LOADER_OPTIONS)) as unknown as {
    salto: {
      nebula: {
        user: { v1: { UserService: grpc.ServiceClientConstructor } };
        accessright: { v1: { AccessRightService: grpc.ServiceClientConstructor } };
        event: { v1: { EventService: grpc.ServiceClientConstructor } };
        installation: { v1: { InstallationService: grpc.ServiceClientConstructor } };
      };
      longrunning: { v1: { OperationService: grpc.ServiceClientConstructor } };
    };
  };
  loaded = {
    UserService: def.salto.nebula.user.v1.UserService,
    AccessRightService: def.salto.nebula.accessright.v1.AccessRightService,
    EventService: def.salto.nebula.event.v1.EventService,
    InstallationService: def.salto.nebula.installation.v1.InstallationService,
    OperationService: def.salto.longrunning.v1.OperationService,
  };
  return loaded;
}

// ---------------------------------------------------------------- message shapes (as the loader gives them)

export interface PbTimestamp {
  seconds: string | number;
  nanos: number;
}
export type KeyState = 'STATE_UNSPECIFIED' | 'NOT_ASSIGNED' | 'PENDING' | 'ACTIVE';
export interface PbCardKey {
  name: string;
  uid: string;
  state: KeyState;
  outdated: boolean;
  expire_time?: PbTimestamp | null;
}
export interface PbElectronicKey {
  name: string;
  device_id: string;
  state: KeyState;
  outdated: boolean;
  expire_time?: PbTimestamp | null;
}
export interface PbAppKey {
  name: string;
  state: KeyState;
  outdated: boolean;
}
export type PbWalletKey = PbAppKey;
export interface PbPasscode {
  name: string;
  state: KeyState;
}
export interface PbUser {
  name: string;
  given_name: string;
  family_name?: string;
  display_name: string;
  email?: string;
  activate_time?: PbTimestamp | null;
  expire_time?: PbTimestamp | null;
  card_key?: PbCardKey | null;
  app_key?: PbAppKey | null;
  wallet_key?: PbWalletKey | null;
  blocked: boolean;
  passcode?: PbPasscode | null;
  electronic_key?: PbElectronicKey | null;
}
export interface PbUserAccessRight {
  name: string;
  access_right: string;
  display_name: string;
  activate_time?: PbTimestamp | null;
  expire_time?: PbTimestamp | null;
}
export interface PbAccessRight {
  name: string;
  display_name: string;
}
/** google.protobuf.Value / Struct as the loader gives them. */
export interface PbValue {
  null_value?: string;
  number_value?: number;
  string_value?: string;
  bool_value?: boolean;
  struct_value?: PbStruct;
  list_value?: { values: PbValue[] };
  kind?: string;
}
export interface PbStruct {
  fields: Record<string, PbValue>;
}
export interface PbEvent {
  name: string;
  type: string;
  resource: string;
  create_time?: PbTimestamp | null;
  occur_time?: PbTimestamp | null;
  data?: PbStruct | null;
}
export interface PbOperation {
  name: string;
  done: boolean;
  error?: { code: number; message: string } | null;
  response?: { type_url: string; value: Buffer } | null;
  result?: 'error' | 'response';
}

// ---------------------------------------------------------------- conversions

export function toTimestamp(iso: string): PbTimestamp {
  const ms = Date.parse(iso);
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** An ISO instant (millisecond precision), or null for an absent or zero timestamp. */
export function fromTimestamp(t: PbTimestamp | null | undefined): string | null {
  if (!t) return null;
  const s = Number(t.seconds);
  if (!Number.isFinite(s) || (s === 0 && !t.nanos)) return null;
  return new Date(s * 1000 + Math.floor((t.nanos ?? 0) / 1_000_000)).toISOString();
}

export function structToJson(s: PbStruct | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: PbValue): unknown {
  switch (v.kind) {
    case 'struct_value':
      return structToJson(v.struct_value);
    case 'list_value':
      return (v.list_value?.values ?? []).map(valueToJson);
    case 'string_value':
      return v.string_value;
    case 'number_value':
      return v.number_value;
    case 'bool_value':
      return v.bool_value;
    default:
      return null;
  }
}

export function jsonToStruct(o: Record<string, unknown>): PbStruct {
  const fields: Record<string, PbValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) fields[k] = jsonToValue(v);
  return { fields };
}

function jsonToValue(v: unknown): PbValue {
  if (v === null) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(jsonToValue) } };
  return { struct_value: jsonToStruct(v as Record<string, unknown>) };
}

let detailTypes: { status: protobuf.Type; retryInfo: protobuf.Type } | undefined;

function statusTypes(): { status: protobuf.Type; retryInfo: protobuf.Type } {
  if (!detailTypes) {
    const root = protobuf.Root.fromJSON(nebulaSchemaJson());
    detailTypes = { status: root.lookupType('google.rpc.Status'), retryInfo: root.lookupType('google.rpc.RetryInfo') };
  }
  return detailTypes;
}

/** The retry delay a `grpc-status-details-bin` trailer carries (google.rpc.RetryInfo), in ms; undefined if none. */
export function retryDelayFromDetails(bin: Buffer | undefined): number | undefined {
  if (!bin || bin.length === 0) return undefined;
  const t = statusTypes();
  try {
    const status = t.status.toObject(t.status.decode(bin), { longs: String }) as { details?: Array<{ type_url: string; value: Uint8Array }> };
    const any = (status.details ?? []).find((d) => d.type_url.endsWith('/google.rpc.RetryInfo'));
    if (!any) return undefined;
    const info = t.retryInfo.toObject(t.retryInfo.decode(any.value), { longs: String }) as { retry_delay?: { seconds?: string; nanos?: number } };
    const d = info.retry_delay;
    if (!d) return undefined;
    const ms = Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1_000_000);
    return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  } catch {
    return undefined; // unreadable details: no delay known
  }
}

/** A `grpc-status-details-bin` value: google.rpc.Status with a RetryInfo of this delay (for the fake). */
export function statusDetailsWithRetry(code: number, message: string, delayMs: number): Buffer {
  const { status, retryInfo } = statusTypes();
  const seconds = Math.floor(delayMs / 1000);
  const info = retryInfo.encode(retryInfo.fromObject({ retry_delay: { seconds, nanos: (delayMs - seconds * 1000) * 1_000_000 } })).finish();
  return Buffer.from(
    status.encode(status.fromObject({ code, message, details: [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: info }] })).finish(),
  );
}
