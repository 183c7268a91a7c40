// The one fetch wrapper of the console API: bearer token, JSON in and out, errors as ApiError,
// a 401 refreshes the tokens once and retries; a second 401 signs out ('calbridge:signed-out').
import * as auth from './auth.js';

export class ApiError extends Error {
  constructor(status, body = {}) {
    super(body.message || body.error || `HTTP ${status}`);
    this.status = status;
    this.code = body.error || null;
    this.field = body.field || null;
    this.problems = body.problems || null;
    this.body = body;
  }
}

let companyId = null;

export function setCompany(id) {
  companyId = id;
}

function signedOut() {
  auth.signOut();
  window.dispatchEvent(new CustomEvent('calbridge:signed-out'));
  return new ApiError(401, { error: 'unauthorized', message: 'Unauthorized' });
}

async function send(url, method, headers, body) {
  const token = await auth.idToken();
  if (!token) throw signedOut();
  try {
    return await fetch(url, { method, headers: { ...headers, Authorization: `Bearer ${token}` }, body });
  } catch {
    throw new ApiError(0, { error: 'network' });
  }
}

/**
 * request('me') or request('companies/x/staff', {method: 'POST', json: {...}}), relative to the
 * console's 'api/'. `query` is an object of search parameters (undefined/null/'' left out); `body`
 * with `contentType` sends raw bytes (a CSV file). Resolves the parsed JSON answer (or null).
 */
export async function request(path, { method = 'GET', json, body, contentType, query } = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const search = params.toString();
  const url = `api/${path}${search ? `?${search}` : ''}`;
  const headers = { Accept: 'application/json' };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (contentType) {
    headers['Content-Type'] = contentType;
  }
  let response = await send(url, method, headers, body);
  if (response.status === 401) {
    if (!(await auth.refresh())) throw signedOut();
    response = await send(url, method, headers, body);
    if (response.status === 401) throw signedOut();
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 200) };
    }
  }
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

/** A route of the selected company: company('staff') -> api/companies/<id>/staff. */
export function company(path, options) {
  return request(`companies/${encodeURIComponent(companyId)}/${path}`, options);
}

/** Every page of a paged listing (appointments, calls): follows next_cursor. */
export async function companyAll(path, key, query = {}) {
  const items = [];
  let cursor = null;
  let first = null;
  do {
    const page = await company(path, { query: { ...query, limit: 100, cursor } });
    first ||= page;
    items.push(...(page[key] || []));
    cursor = page.next_cursor;
  } while (cursor);
  return { ...first, [key]: items };
}
