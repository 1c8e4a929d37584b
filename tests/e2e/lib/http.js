'use strict';
// HTTP helpers for the document API (docs/PROTOCOL.md, "HTTP on the same port").

function authHeaders(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function getJson(server, pathname, token, extraHeaders = {}) {
  const res = await server.fetch(pathname, { headers: { ...authHeaders(token), ...extraHeaders } });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { body = null; }
  return { status: res.status, headers: res.headers, text, body };
}

// GET /v1/docs/{id}; throws unless 200. Returns {doc, rev, text}.
async function getDoc(server, doc, token = server.token()) {
  const r = await getJson(server, `/v1/docs/${doc}`, token);
  if (r.status !== 200) throw new Error(`GET /v1/docs/${doc}: HTTP ${r.status} ${r.text}`);
  return r.body;
}

// GET /v1/docs/{id}/ops; returns the raw answer.
function getOpsRaw(server, doc, query, token = server.token()) {
  return getJson(server, `/v1/docs/${doc}/ops${query ? `?${query}` : ''}`, token);
}

// Every committed op of a document, paging with limit=1000.
async function allOps(server, doc, token = server.token()) {
  const out = [];
  for (let from = 0; ;) {
    const r = await getOpsRaw(server, doc, `from=${from}&limit=1000`, token);
    if (r.status !== 200) throw new Error(`GET ops ${doc} from=${from}: HTTP ${r.status} ${r.text}`);
    const ops = r.body.ops;
    if (!Array.isArray(ops)) throw new Error(`GET ops ${doc}: no ops array: ${r.text.slice(0, 200)}`);
    if (ops.length === 0) break;
    out.push(...ops);
    from = ops[ops.length - 1].rev;
    if (out.length > 1e6) throw new Error('runaway paging');
  }
  return out;
}

module.exports = { getJson, getDoc, getOpsRaw, allOps, authHeaders };
