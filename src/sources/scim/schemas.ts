/**
 * The SCIM schemas lockstep supports (RFC 7643 §4, §8.7) as attribute definitions. They are
 * the single description of what the endpoint accepts: /Schemas serves them, and parsing,
 * PATCH paths, filters, sorting and attribute projection all resolve names through them
 * (names are case-insensitive, RFC 7643 §2.1), so what /Schemas says is what the code does.
 */

export const URN = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  enterprise: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  lockstep: 'urn:ietf:params:scim:schemas:extension:lockstep:2.0:User',
  schema: 'urn:ietf:params:scim:schemas:core:2.0:Schema',
  resourceType: 'urn:ietf:params:scim:schemas:core:2.0:ResourceType',
  serviceProviderConfig: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  searchRequest: 'urn:ietf:params:scim:api:messages:2.0:SearchRequest',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
} as const;

export type AttributeType = 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex' | 'binary';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
export type Returned = 'always' | 'never' | 'default' | 'request';

export interface AttributeDef {
  name: string;
  type: AttributeType;
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: Mutability;
  returned: Returned;
  uniqueness: 'none' | 'server' | 'global';
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: AttributeDef[];
}

export interface SchemaDef {
  id: string;
  name: string;
  description: string;
  attributes: AttributeDef[];
}

type Opts = Partial<Omit<AttributeDef, 'name' | 'type' | 'description'>>;

function attr(name: string, type: AttributeType, description: string, o: Opts = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: o.multiValued ?? false,
    description,
    required: o.required ?? false,
    caseExact: o.caseExact ?? false,
    mutability: o.mutability ?? 'readWrite',
    returned: o.returned ?? 'default',
    uniqueness: o.uniqueness ?? 'none',
    ...(o.canonicalValues ? { canonicalValues: o.canonicalValues } : {}),
    ...(o.referenceTypes ? { referenceTypes: o.referenceTypes } : {}),
    ...(o.subAttributes ? { subAttributes: o.subAttributes } : {}),
  };
}

const str = (name: string, description: string, o: Opts = {}) => attr(name, 'string', description, o);

/** value/display/type/primary: the shape RFC 7643 gives emails, phoneNumbers, ims, photos, roles... */
function multi(name: string, description: string, valueType: AttributeType, types: string[] | undefined, extra: AttributeDef[] = []): AttributeDef {
  return attr(name, 'complex', description, {
    multiValued: true,
    subAttributes: [
      attr('value', valueType, `The value of the ${name} entry.`, valueType === 'reference' ? { referenceTypes: ['external'] } : {}),
      str('display', 'A human-readable name, primarily used for display purposes.'),
      str('type', 'A label indicating the function of the value.', types ? { canonicalValues: types } : {}),
      attr('primary', 'boolean', 'Whether this is the primary value; true at most once.'),
      ...extra,
    ],
  });
}

export const idAttribute = str('id', 'Unique identifier of the resource, assigned by the service provider.', {
  caseExact: true,
  mutability: 'readOnly',
  returned: 'always',
  uniqueness: 'server',
});

export const externalIdAttribute = str('externalId', "The client's identifier of the resource; lockstep's correlation key for lock-system accounts.", {
  caseExact: true,
});

export const metaAttribute = attr('meta', 'complex', 'Resource metadata.', {
  mutability: 'readOnly',
  subAttributes: [
    str('resourceType', 'The name of the resource type.', { caseExact: true, mutability: 'readOnly' }),
    attr('created', 'dateTime', 'When the resource was added.', { mutability: 'readOnly' }),
    attr('lastModified', 'dateTime', 'When the resource was last changed.', { mutability: 'readOnly' }),
    attr('location', 'reference', 'The URI of the resource.', { caseExact: true, mutability: 'readOnly', referenceTypes: ['uri'] }),
    str('version', 'The version (weak ETag) of the resource.', { caseExact: true, mutability: 'readOnly' }),
  ],
});

export const userSchema: SchemaDef = {
  id: URN.user,
  name: 'User',
  description: 'User Account',
  attributes: [
    str('userName', 'Unique identifier for the User, used by the user to authenticate. Unique among live users, case-insensitively.', {
      required: true,
      uniqueness: 'server',
    }),
    attr('name', 'complex', "The components of the user's name.", {
      subAttributes: [
        str('formatted', 'The full name, formatted for display.'),
        str('familyName', 'The family name (last name).'),
        str('givenName', 'The given name (first name).'),
        str('middleName', 'The middle name(s).'),
        str('honorificPrefix', 'The honorific prefix(es), e.g. Ms.'),
        str('honorificSuffix', 'The honorific suffix(es), e.g. III.'),
      ],
    }),
    str('displayName', 'The name of the user, suitable for display.'),
    str('nickName', 'The casual way to address the user.'),
    attr('profileUrl', 'reference', "A URI of the user's online profile.", { referenceTypes: ['external'] }),
    str('title', "The user's title, e.g. Vice President (lockstep: jobTitle)."),
    str(
      'userType',
      'The relationship between the organization and the user, e.g. Employee, Contractor (lockstep: employeeType unless the lockstep extension sets one).',
    ),
    str('preferredLanguage', "The user's preferred written or spoken language."),
    str('locale', "The user's default location for localization."),
    str('timezone', "The user's time zone, in IANA format."),
    attr('active', 'boolean', "The user's administrative status; false makes the user a leaver at once."),
    str('password', 'Accepted and discarded: lockstep keeps no passwords.', { mutability: 'writeOnly', returned: 'never' }),
    multi('emails', 'Email addresses; the primary (else work) one becomes the identity email.', 'string', ['work', 'home', 'other']),
    multi('phoneNumbers', 'Phone numbers.', 'string', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    multi('ims', 'Instant messaging addresses.', 'string', ['aim', 'gtalk', 'icq', 'xmpp', 'msn', 'skype', 'qq', 'yahoo']),
    multi('photos', 'URLs of photos of the user.', 'reference', ['photo', 'thumbnail']),
    attr('addresses', 'complex', 'Physical mailing addresses.', {
      multiValued: true,
      subAttributes: [
        str('formatted', 'The full mailing address.'),
        str('streetAddress', 'The full street address component.'),
        str('locality', 'The city or locality component.'),
        str('region', 'The state or region component.'),
        str('postalCode', 'The zip code or postal code component.'),
        str('country', 'The country name component (ISO 3166-1 alpha-2).'),
        str('type', 'A label indicating the function of the address.', { canonicalValues: ['work', 'home', 'other'] }),
        attr('primary', 'boolean', 'Whether this is the primary address.'),
      ],
    }),
    attr('groups', 'complex', 'Groups the user belongs to; read-only: change membership through /Groups.', {
      multiValued: true,
      mutability: 'readOnly',
      subAttributes: [
        str('value', 'The id of the group.', { mutability: 'readOnly' }),
        attr('$ref', 'reference', 'The URI of the group.', { mutability: 'readOnly', referenceTypes: ['Group'] }),
        str('display', 'The displayName of the group.', { mutability: 'readOnly' }),
        str('type', 'direct or indirect membership.', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
      ],
    }),
    multi('entitlements', 'Entitlements of the user.', 'string', undefined),
    multi('roles', 'Roles of the user; they become the identity roles that mappings can grant access by.', 'string', undefined),
    multi('x509Certificates', 'X.509 certificates of the user.', 'binary', undefined),
  ],
};

export const enterpriseSchema: SchemaDef = {
  id: URN.enterprise,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    str('employeeNumber', 'Identifier assigned to a person, typically by order of hire.'),
    str('costCenter', 'Name of a cost center.'),
    str('organization', 'Name of an organization.'),
    str('division', 'Name of a division.'),
    str('department', 'Name of a department.'),
    attr('manager', 'complex', "The user's manager.", {
      subAttributes: [
        str('value', 'The id of the manager (the SCIM id or the value the client uses).'),
        attr('$ref', 'reference', 'The URI of the manager resource.', { referenceTypes: ['User'] }),
        str('displayName', 'The displayName of the manager.', { mutability: 'readOnly' }),
      ],
    }),
  ],
};

const isoDate = 'ISO 8601 date (YYYY-MM-DD) or date-time.';

export const lockstepSchema: SchemaDef = {
  id: URN.lockstep,
  name: 'LockstepUser',
  description: 'Physical-access lifecycle attributes used by lockstep policies.',
  attributes: [
    str('employeeType', 'Employee, Contractor, Visitor... (overrides core userType).'),
    str('hireDate', `First day of work; access starts then. ${isoDate}`),
    str('leaveDate', `Last day of work; the person is a leaver after it. ${isoDate}`),
    str('contractEnd', `End of the contract; contractor access ends then. ${isoDate}`),
    str('sponsor', 'The person responsible for a contractor or visitor (userName or id).'),
    str('site', 'The site (campus, data centre) the person works at.'),
  ],
};

export const groupSchema: SchemaDef = {
  id: URN.group,
  name: 'Group',
  description: 'Group',
  attributes: [
    str('displayName', 'A human-readable name for the group; unique case-insensitively (Entra requires it).', {
      required: true,
      uniqueness: 'server',
    }),
    attr('members', 'complex', 'Members of the group (users only).', {
      multiValued: true,
      subAttributes: [
        str('value', 'The id of the member.', { mutability: 'immutable' }),
        attr('$ref', 'reference', 'The URI of the member.', { mutability: 'immutable', referenceTypes: ['User'] }),
        str('display', "The member's displayName.", { mutability: 'readOnly' }),
        str('type', 'The type of the member.', { mutability: 'immutable', canonicalValues: ['User'] }),
      ],
    }),
  ],
};

export interface ResourceTypeDef {
  name: 'User' | 'Group';
  endpoint: '/Users' | '/Groups';
  description: string;
  schema: SchemaDef;
  extensions: SchemaDef[];
}

export const userResourceType: ResourceTypeDef = {
  name: 'User',
  endpoint: '/Users',
  description: 'User Account',
  schema: userSchema,
  extensions: [enterpriseSchema, lockstepSchema],
};

export const groupResourceType: ResourceTypeDef = {
  name: 'Group',
  endpoint: '/Groups',
  description: 'Group',
  schema: groupSchema,
  extensions: [],
};

export const allSchemas: SchemaDef[] = [userSchema, enterpriseSchema, lockstepSchema, groupSchema];

/** Where an attribute lives: in the core object, or under an extension's URN key. */
export interface ResolvedAttribute {
  def: AttributeDef;
  /** The extension URN the attribute lives under; null for core (and common) attributes. */
  extension: string | null;
}

function findAttr(list: readonly AttributeDef[], name: string): AttributeDef | undefined {
  const n = name.toLowerCase();
  return list.find((a) => a.name.toLowerCase() === n);
}

export function findSubAttribute(def: AttributeDef, name: string): AttributeDef | undefined {
  return def.subAttributes ? findAttr(def.subAttributes, name) : undefined;
}

/** A URN of this resource type (core or extension), matched case-insensitively; canonical spelling back. */
export function matchSchemaUrn(rt: ResourceTypeDef, urn: string): string | null {
  const u = urn.toLowerCase();
  if (rt.schema.id.toLowerCase() === u) return rt.schema.id;
  return rt.extensions.find((e) => e.id.toLowerCase() === u)?.id ?? null;
}

/**
 * Splits `urn:...:User:name.givenName` into its schema URN and the rest. The URN is the longest
 * known one that prefixes the path and is followed by ':'. Returns null urn for unqualified paths,
 * and throws nothing: an unknown `urn:` prefix comes back as { urn: undefined } for the caller to refuse.
 */
export function splitUrn(rt: ResourceTypeDef, path: string): { urn: string | null | undefined; rest: string } {
  if (!/^urn:/i.test(path)) return { urn: null, rest: path };
  const lower = path.toLowerCase();
  const candidates = [rt.schema, ...rt.extensions].map((s) => s.id).sort((a, b) => b.length - a.length);
  for (const id of candidates) {
    const l = id.toLowerCase();
    if (lower.startsWith(`${l}:`)) return { urn: id, rest: path.slice(id.length + 1) };
  }
  return { urn: undefined, rest: path };
}

/** Resolves a top-level attribute name (optionally under a schema URN) for a resource type. */
export function resolveAttribute(rt: ResourceTypeDef, urn: string | null, name: string): ResolvedAttribute | null {
  if (urn === null || urn === rt.schema.id) {
    const lower = name.toLowerCase();
    if (lower === 'id') return { def: idAttribute, extension: null };
    if (lower === 'externalid') return { def: externalIdAttribute, extension: null };
    if (lower === 'meta') return { def: metaAttribute, extension: null };
    const def = findAttr(rt.schema.attributes, name);
    return def ? { def, extension: null } : null;
  }
  const ext = rt.extensions.find((e) => e.id === urn);
  const def = ext ? findAttr(ext.attributes, name) : undefined;
  return def ? { def, extension: urn } : null;
}

/** The /Schemas representation (RFC 7643 §7), with the common attributes left out as RFC 7643 §8.7.1 does. */
export function schemaRepresentation(s: SchemaDef, location: string): Record<string, unknown> {
  return {
    schemas: [URN.schema],
    id: s.id,
    name: s.name,
    description: s.description,
    attributes: s.attributes,
    meta: { resourceType: 'Schema', location },
  };
}
