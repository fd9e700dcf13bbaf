/**
 * GET /api/v1/docs: the OpenAPI document as one self-contained HTML page, rendered on the
 * server (no script, no CDN): operations by tag with their roles, parameters, bodies and
 * responses, then every schema, with $refs as links.
 */
type Json = Record<string, unknown>;

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** Escaped text with `code` spans. */
const text = (s: unknown) =>
  esc(s ?? '')
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\n\n/g, '<br><br>');
const refName = (ref: string) => ref.replace('#/components/schemas/', '');
const anchor = (name: string) => `schema-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;

function typeOf(s: Json): string {
  if (typeof s.$ref === 'string') return `<a href="#${anchor(refName(s.$ref))}">${esc(refName(s.$ref))}</a>`;
  const union = (s.oneOf ?? s.anyOf) as Json[] | undefined;
  if (union) return union.map((x) => typeOf(x)).join(' | ');
  if (Array.isArray(s.enum)) return s.enum.map((v) => `<code>${esc(JSON.stringify(v))}</code>`).join(' | ');
  const t = Array.isArray(s.type) ? (s.type as string[]).join(' | ') : (s.type as string | undefined);
  if (t === 'array' || (Array.isArray(s.type) && s.type.includes('array')))
    return `array of ${s.items ? typeOf(s.items as Json) : 'any'}${Array.isArray(s.type) && s.type.includes('null') ? ' | null' : ''}`;
  const fmt = s.format ? ` (${esc(s.format)})` : '';
  return `${esc(t ?? 'any')}${fmt}`;
}

function schemaHtml(s: Json | undefined, depth = 0): string {
  if (!s) return '';
  const props = s.properties as Record<string, Json> | undefined;
  const union = (s.oneOf ?? s.anyOf) as Json[] | undefined;
  if (union && depth < 3 && union.some((u) => !u.$ref))
    return `<div class="union">one of:${union.map((u) => `<div class="alt">${u.$ref ? typeOf(u) : schemaHtml(u, depth + 1)}</div>`).join('')}</div>`;
  if (!props) {
    if (s.type === 'array' && s.items && !(s.items as Json).$ref && (s.items as Json).properties && depth < 3)
      return `array of:${schemaHtml(s.items as Json, depth + 1)}`;
    return `<span class="type">${typeOf(s)}</span>${s.description ? ` — ${text(s.description)}` : ''}`;
  }
  const required = new Set((s.required as string[] | undefined) ?? []);
  const rows = Object.entries(props).map(([name, p]) => {
    const nested = depth < 3 && !p.$ref && (p.properties || (p.type === 'array' && (p.items as Json | undefined)?.properties)) ? schemaHtml(p, depth + 1) : '';
    return `<tr><td><code>${esc(name)}</code>${required.has(name) ? '' : ' <span class="opt">optional</span>'}</td><td>${nested || `<span class="type">${typeOf(p)}</span>`}</td><td>${text(p.description ?? '')}</td></tr>`;
  });
  return `<table class="schema"><tbody>${rows.join('')}</tbody></table>`;
}

export function renderDocsPage(doc: Json): string {
  const info = doc.info as Json;
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const byTag = new Map<string, string[]>();
  const ops: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      const id = `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, '-')}`;
      const tag = ((op.tags as string[] | undefined) ?? ['other'])[0];
      const list = byTag.get(tag) ?? [];
      list.push(`<li><a href="#${id}"><span class="m ${method}">${method.toUpperCase()}</span> ${esc(path)}</a></li>`);
      byTag.set(tag, list);
      const params = (op.parameters as Json[] | undefined) ?? [];
      const roles = op['x-lockstep-roles'] as string[] | undefined;
      const body = ((op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined)?.['application/json']?.schema as Json | undefined;
      const responses = Object.entries((op.responses as Record<string, Json>) ?? {})
        .map(([status, r]) => {
          const content = (r.content as Record<string, Json> | undefined) ?? {};
          const types = Object.entries(content)
            .map(([type, c]) => `<div class="ctype">${esc(type)}: ${schemaHtml(c.schema as Json)}</div>`)
            .join('');
          return `<tr><td><b>${esc(status)}</b></td><td>${text(r.description)}${types}</td></tr>`;
        })
        .join('');
      ops.push(`<section class="op" id="${id}">
<h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>
<p>${text(op.summary)}</p>${op.description ? `<p class="desc">${text(op.description)}</p>` : ''}
<p class="roles">${roles ? `Roles: ${roles.map((r) => `<span class="role">${esc(r)}</span>`).join(' ')}` : op.security ? 'A signed-in caller or a bearer token; no role needed.' : 'No authentication.'}</p>
${params.length ? `<h4>Parameters</h4><table class="schema"><tbody>${params.map((p) => `<tr><td><code>${esc(p.name)}</code> <span class="opt">${esc(p.in)}${p.required ? ', required' : ''}</span></td><td><span class="type">${typeOf((p.schema as Json) ?? {})}</span></td><td>${text(p.description ?? '')}</td></tr>`).join('')}</tbody></table>` : ''}
${body ? `<h4>Request body</h4>${schemaHtml(body)}` : ''}
<h4>Responses</h4><table class="responses"><tbody>${responses}</tbody></table>
</section>`);
    }
  }
  const schemas = Object.entries(((doc.components as Json | undefined)?.schemas as Record<string, Json>) ?? {})
    .map(
      ([name, s]) =>
        `<section class="schema-def" id="${anchor(name)}"><h3>${esc(name)}</h3>${s.description ? `<p>${text(s.description)}</p>` : ''}${schemaHtml(s)}</section>`,
    )
    .join('\n');
  const toc = [...byTag].map(([tag, items]) => `<h4>${esc(tag)}</h4><ul>${items.join('')}</ul>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)} — reference</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2330;display:flex}
nav{width:300px;flex:none;height:100vh;overflow:auto;position:sticky;top:0;background:#f4f6f9;padding:16px;box-sizing:border-box;font-size:13px}
nav ul{list-style:none;padding:0;margin:0 0 8px}nav a{color:inherit;text-decoration:none}nav li{margin:3px 0}
main{padding:24px 40px;max-width:1100px;min-width:0}
code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#eef1f5;padding:1px 4px;border-radius:3px}
.m{display:inline-block;min-width:44px;text-align:center;font:bold 11px ui-monospace,monospace;padding:2px 4px;border-radius:3px;color:#fff;background:#5b6b82}
.m.get{background:#2f7d4f}.m.post{background:#1f5fa8}.m.delete{background:#a8321f}
.op{border-top:1px solid #dde2ea;padding:8px 0 16px}.desc{color:#3c4657}
.role{background:#fff2cc;border:1px solid #e5c76b;border-radius:10px;padding:0 8px;font-size:12px;margin-right:4px}
table{border-collapse:collapse;width:100%;margin:4px 0}td{border:1px solid #e3e7ee;padding:4px 8px;vertical-align:top}
.schema td:first-child{width:210px}.type{color:#6b3fa0}.opt{color:#7a8494;font-size:12px}
.ctype{margin-top:4px}.union .alt{border-left:3px solid #dde2ea;padding-left:8px;margin:4px 0}
h4{margin:12px 0 4px}
</style></head><body>
<nav><b>${esc(info.title)}</b><p>OpenAPI ${esc(doc.openapi)} · <a href="openapi.json">openapi.json</a></p>${toc}<h4><a href="#schemas">schemas</a></h4></nav>
<main><h1>${esc(info.title)}</h1><p>${text(info.description)}</p>
<p>Authentication: a bearer token (<code>Authorization: Bearer …</code>: a static token or an OIDC access token), or the console's session cookie from <code>GET /auth/login</code>, with <code>X-Requested-With: lockstep</code> on requests that change something.</p>
<h2>Operations</h2>
${ops.join('\n')}
<h2 id="schemas">Schemas</h2>
${schemas}
</main></body></html>
`;
}
